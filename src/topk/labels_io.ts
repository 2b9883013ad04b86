// Moved to src/labels/write_labels.ts (issue 19). Kept only until src/cli imports the new
// path; the merger deletes this file (it is the one import from src/topk into src/labels).
export * from "../labels/write_labels.ts";
