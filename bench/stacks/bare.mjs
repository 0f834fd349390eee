// The bare awaited call: the floor every other row is compared to.
export const bare = {
  name: 'bare `async () => 1`',
  group: 'reference',
  create(target) {
    return { call: target };
  },
};
