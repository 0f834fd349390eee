export { createLedger, type Ledger, type LedgerStats, type LedgerFailure, type LedgerEvents, type DecisionKind } from './ledger.js';
export type { LedgerOptions, Sampling } from './ledger-options.js';
export { GENESIS_PREV, type DecisionEntry, type LedgerRecord, type LedgerValue } from './ledger-record.js';
export { RECORDED_EVENTS, type DecisionSource } from './record-decisions.js';
export { verifyLedger, type LedgerVerification, type LedgerFault } from './verify.js';
export { hashPolicy, encodePolicy, decodePolicy, writePolicyArtifact, verifyPolicy, type PolicyJson, type PolicyArtifact, type PolicyVerification } from './policy.js';
export type { ScopeMode, WouldRefuseReason } from './observe.js';
export type { ContractSpec, ContractFigures, ContractsStatus } from './contracts.js';
export type { PolicySnapshot, PolicyConfig } from './policy-snapshot.js';
