export interface CtpScript { params: Map<string, string> }
