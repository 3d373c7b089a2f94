// Generated from rules/vocabulary.py by `make vocabulary`; do not edit (a test keeps it current).
// PostGuard's one vocabulary (rules/vocabulary.py): the words the service sends and expects.
export const Severity = Object.freeze({"INFO": "info", "LOW": "low", "MEDIUM": "medium", "HIGH": "high"});
export const Action = Object.freeze({"OFF": "off", "LOG": "log", "WARN": "warn", "SANITISE": "sanitise", "BLOCK": "block"});
export const Decision = Object.freeze({"ALLOW": "allow", "SANITISE": "sanitise", "WARN": "warn", "BLOCK": "block"});
export const Choice = Object.freeze({"CANCEL": "cancel", "FIX": "fix", "POST_ANYWAY": "post_anyway"});
export const Outcome = Object.freeze({"ALLOWED": "allowed", "WARNED": "warned", "OVERRIDDEN": "overridden", "CANCELLED": "cancelled", "SANITISED": "sanitised", "BLOCKED": "blocked", "UNANSWERED": "unanswered", "INSPECTION_ERROR": "inspection_error", "PURGED": "purged", "RECORDED": "recorded"});
