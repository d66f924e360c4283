// Workflows for archived experiments (issue #16): format, importer, conditions, state machine, callbacks.
export * from "./expr";
export * from "./workflow";
export * from "./engine";
export * from "./callbacks";
export * from "./protocol";
export * from "./api";
export * from "./default-workflow";
