// Outbound requests to URLs that project owners set: the address policy, the guarded fetch, the
// capped body reader and the URL rules (issue #17 §3).
export * from "./policy";
export * from "./body";
export * from "./url";
export * from "./fetch";
