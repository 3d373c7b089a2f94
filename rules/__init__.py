"""PostGuard's policy engine: detectors, policy packs and verdicts. Imports neither mitmproxy nor Flask."""
from .config import Config, ConfigError, load_config
from .engine import Engine, evaluate
from .model import Attachment, Clause, Finding, Submission, Verdict
from .packs import Pack, PackError, load_pack

__all__ = ["Attachment", "Clause", "Config", "ConfigError", "Engine", "Finding", "Pack", "PackError",
           "Submission", "Verdict", "evaluate", "load_config", "load_pack"]
