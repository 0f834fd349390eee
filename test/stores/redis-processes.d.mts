import type { ChildProcess } from 'node:child_process';

export declare const sleep: (ms: number) => Promise<void>;
export declare function missingTool(tool: string): string | null;
export declare function freePort(): Promise<number>;
export declare function pingOnce(port: number): Promise<boolean>;
export declare function launchRedis(port: number, extraArgs?: readonly string[]): Promise<ChildProcess>;
export declare function killProcess(child: ChildProcess | undefined): Promise<void>;
export declare function startRedisCluster(): Promise<{ readonly ports: readonly number[]; stop(): Promise<void> }>;
