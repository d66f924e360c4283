// Shapes of what XNAT returns. Listing values are strings, as XNAT sends them.

export interface ResultSet<T> {
  ResultSet: { Result: T[]; totalRecords?: string; title?: string };
}

export interface ProjectRow {
  ID: string;
  secondary_ID: string;
  name: string;
  description: string;
  pi_firstname: string;
  pi_lastname: string;
  URI: string;
}

export interface SubjectRow {
  ID: string;
  label: string;
  project: string;
  insert_date: string;
  insert_user: string;
  URI: string;
}

export interface ExperimentRow {
  ID: string;
  label: string;
  project: string;
  date: string;
  xsiType: string;
  "xnat:subjectassessordata/id": string;
  insert_date: string;
  URI: string;
}

export interface ScanRow {
  xsiType: string;
  xnat_imagescandata_id: string;
  ID: string;
  type: string;
  quality: string;
  series_description: string;
  note: string;
  URI: string;
}

export interface ResourceRow {
  xnat_abstractresource_id: string;
  label: string;
  element_name: string;
  category: string;
  cat_id: string;
  cat_desc: string;
  format: string;
  content: string;
  tags: string;
  file_count: string;
  file_size: string;
}

export interface FileRow {
  Name: string;
  Size: string;
  URI: string;
  collection: string;
  cat_ID: string;
  digest: string;
  file_content: string;
  file_format: string;
  file_tags: string;
}

export const prearchiveStatuses = [
  "RECEIVING",
  "RECEIVING_INTERRUPT",
  "BUILDING",
  "READY",
  "ARCHIVING",
  "MOVING",
  "DELETING",
  "SEPARATING",
  "CONFLICT",
  "ERROR",
  "QUEUED_ARCHIVING",
  "QUEUED_BUILDING",
  "QUEUED_DELETING",
  "QUEUED_MOVING",
  "QUEUED_SEPARATING",
] as const;

export interface PrearchiveRow {
  project: string;
  timestamp: string;
  folderName: string;
  name: string;
  subject: string;
  /** Without /data, e.g. /prearchive/projects/P/20220122_105154616/NAME001 */
  url: string;
  status: string;
  scan_date: string;
  scan_time: string;
  uploaded: string;
  lastmod: string;
  /** StudyInstanceUID */
  tag: string;
  autoarchive: string;
  prevent_anon: string;
  prevent_auto_commit: string;
  SOURCE: string;
  VISIT: string;
  PROTOCOL: string;
  TIMEZONE: string;
}

/** XFT item as returned by GET <object>?format=json: {"items":[XftItem]} */
export interface XftItem {
  data_fields: Record<string, string | number | boolean | null>;
  meta: { "xsi:type": string; isHistory?: boolean; start_date?: string };
  children: Array<{ field: string; items: XftItem[] }>;
}

export interface BuildInfo {
  version: string;
  buildNumber?: string;
  buildDate?: string;
  sha?: string;
  commit?: string;
  tag?: string;
  branch?: string;
  timestamp?: string;
  [k: string]: unknown;
}

export interface AliasToken {
  alias: string;
  secret: string;
  xdatUserId: string;
  singleUse: boolean;
  estimatedExpirationTime: number;
  timestamp: number;
  enabled: boolean;
  created: number;
  id: number;
  disabled: number;
}

export type OverwriteMode = "none" | "append" | "delete";
export type ProjectRoleOnXnat = "owner" | "member" | "collaborator";
export type Accessibility = "public" | "protected" | "private";

/** An experiment addressed by project, optional subject, and label or accession id. */
export interface ExperimentRef {
  project: string;
  subject?: string;
  /** Label in the project, or accession id (XNAT_E00001). */
  experiment: string;
}

export interface ScanRef extends ExperimentRef {
  scan: string;
}

export interface ResourceRef extends ExperimentRef {
  /** Omit for an experiment-level resource. */
  scan?: string;
  resource: string;
}

export interface PrearchiveRef {
  project: string;
  timestamp: string;
  folder: string;
}

export interface Created {
  /** Accession id (or the object's id/label where XNAT has no accession id). */
  id: string;
  /** true when XNAT answered 201 (created), false for 200 (existed, updated). */
  created: boolean;
}

export interface ExperimentDetails {
  id: string;
  label: string;
  project: string;
  subjectId: string;
  xsiType: string;
  date: string | undefined;
  /** StudyInstanceUID, when XNAT recorded it. */
  uid: string | undefined;
  fields: Record<string, string | number | boolean | null>;
  scans: Array<{
    id: string;
    xsiType: string;
    type: string | undefined;
    seriesDescription: string | undefined;
    /** SeriesInstanceUID */
    uid: string | undefined;
    /** DICOM Modality, when XNAT recorded it. */
    modality: string | undefined;
    resources: Array<{ label: string; format: string | undefined; content: string | undefined; fileCount: number | undefined; fileSize: number | undefined }>;
  }>;
}
