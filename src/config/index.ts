export { ServiceType, type ServiceName, type ThrottleConfig, type ThrottleConfigKey } from './types.js';
export { SERVICE_PRESETS, CUSTOM_SERVICE_PRESET, presetFor } from './presets.js';
export { mergeConfig, validatePartial, validateWhole, CONFIG_KEYS } from './validate.js';
export { readEnvOverrides, envFieldName } from './env.js';
