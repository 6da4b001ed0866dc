"""Hugging Face Hub paths: ``hf://[datasets/|spaces/]ORG/REPO[@REVISION][/PATH]``.

Pure functions (no network): parsing, the ``resolve`` and API URLs under
``HF_ENDPOINT``, which origin may receive the token, the file names of a
listing (``shards.pick_model`` says which one a bare repository stands for).
``irpa_core.remote`` does the fetching.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, replace
from urllib.parse import quote, unquote, urlsplit

from .display import one_line
from .errors import ArchiveError

DEFAULT_ENDPOINT = "https://huggingface.co"
# URL prefix -> repo type; models have no prefix in resolve URLs.
_PREFIXES = {"datasets": "dataset", "spaces": "space", "models": "model"}
_URL_PREFIX = {"dataset": "datasets/", "space": "spaces/", "model": ""}
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
# refs/pr/N and refs/convert/NAME contain slashes; other revisions with a
# slash must be written quoted (%2F).
_HF = re.compile(r"(?P<org>[^/@]+)/(?P<repo>[^/@]+)(?:@(?P<rev>refs/(?:pr|convert)/[^/]+|[^/]*))?(?:/(?P<path>.*))?")
USAGE = "expected hf://ORG/REPO[@REVISION][/PATH]"


def endpoint() -> str:
    """The Hub's base URL: ``HF_ENDPOINT`` or https://huggingface.co."""
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


@dataclass(frozen=True)
class HfPath:
    """One parsed ``hf://`` spec. ``path`` is empty for a bare repository."""

    repo_id: str
    path: str = ""
    revision: str | None = None
    repo_type: str = "model"

    @property
    def rev(self) -> str:
        return self.revision or "main"

    def child(self, path: str) -> HfPath:
        return replace(self, path=path)

    def resolve_url(self, base: str | None = None) -> str:
        return (
            f"{base or endpoint()}/{_URL_PREFIX[self.repo_type]}{self.repo_id}/resolve/"
            f"{quote(self.rev, safe='')}/{quote(self.path, safe='/')}"
        )

    def api_url(self, base: str | None = None) -> str:
        """The Hub API answer for this revision: JSON with ``siblings``."""
        return f"{base or endpoint()}/api/{self.repo_type}s/{self.repo_id}/revision/{quote(self.rev, safe='')}"

    def __str__(self) -> str:
        prefix = _URL_PREFIX[self.repo_type]
        rev = ""
        if self.revision is not None:
            pr = re.fullmatch(r"refs/(?:pr|convert)/[^/]+", self.revision)
            rev = "@" + (self.revision if pr else quote(self.revision, safe=""))
        return f"hf://{prefix}{self.repo_id}{rev}" + (f"/{self.path}" if self.path else "")


def parse_hf(spec: str) -> HfPath:
    """Parse ``hf://[datasets/|spaces/]ORG/REPO[@REVISION][/PATH]``."""
    if spec[:5].lower() != "hf://":
        raise ArchiveError(spec, None, f"not an hf:// path ({USAGE})")
    rest = spec[5:]
    repo_type = "model"
    head, _, tail = rest.partition("/")
    if head in _PREFIXES and tail:
        repo_type, rest = _PREFIXES[head], tail
    m = _HF.fullmatch(rest)
    if not m or not _NAME.fullmatch(m["org"]) or not _NAME.fullmatch(m["repo"]):
        raise ArchiveError(spec, None, f"not a valid hf:// path ({USAGE})")
    rev = m["rev"]
    if rev is not None:
        rev = unquote(rev)
        if not rev:
            raise ArchiveError(spec, None, f"empty revision after '@' ({USAGE})")
    path = (m["path"] or "").rstrip("/")
    if path and any(seg in ("", ".", "..") for seg in path.split("/")):
        raise ArchiveError(spec, None, "the path inside the repository has an empty, '.' or '..' part")
    return HfPath(f"{m['org']}/{m['repo']}", path, rev, repo_type)


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or {"http": 80, "https": 443}.get(scheme)
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port


def same_origin(a: str, b: str) -> bool:
    """Same scheme, host and port: where a credential may go."""
    return _origin(a) == _origin(b)


def stored_token_path() -> str:
    """Where ``hf auth login`` keeps the token, as the Hub documents it:
    ``HF_TOKEN_PATH``, else ``$HF_HOME/token``; ``HF_HOME`` defaults to
    ``$XDG_CACHE_HOME/huggingface``, else ``~/.cache/huggingface``."""
    path = os.environ.get("HF_TOKEN_PATH")
    if path:
        return os.path.expanduser(path)
    home = os.environ.get("HF_HOME")
    if not home:
        cache = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
        home = os.path.join(cache, "huggingface")
    return os.path.join(os.path.expanduser(home), "token")


def token_for(url: str) -> str | None:
    """The Hub token, but only for a URL on the Hub endpoint's own origin:
    ``HF_TOKEN``, else the stored one (``stored_token_path``)."""
    if not same_origin(url, endpoint()):
        return None
    token = os.environ.get("HF_TOKEN", "").strip()
    if token:
        return token
    path = stored_token_path()
    try:
        with open(path, encoding="utf-8") as f:
            token = f.read().strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as e:
        raise ArchiveError(
            path, None, f"cannot read the stored Hugging Face token ({one_line(str(e))}); set HF_TOKEN instead"
        ) from None
    return token or None


def siblings(spec: str, raw: bytes) -> list[str]:
    """The file names in a Hub API answer for a revision."""
    try:
        doc = json.loads(raw)
        names = [s["rfilename"] for s in doc["siblings"]]
    except (ValueError, UnicodeDecodeError, RecursionError, TypeError, KeyError):
        raise ArchiveError(spec, None, "the Hub's file listing is not the JSON expected (no 'siblings')") from None
    if not all(isinstance(n, str) for n in names):
        raise ArchiveError(spec, None, "the Hub's file listing has a file name that is not a string")
    return names
