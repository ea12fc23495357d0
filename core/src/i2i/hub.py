"""The Hugging Face Hub: `hf://org/name[@revision]` model ids, and uploading an exported folder.

An `hf://` id is given by the user (`i2i-run --checkpoint hf://org/name`, `load_pipeline("hf://...")`),
so fetching it is the user's explicit choice. It is resolved with `huggingface_hub.hf_hub_download`
(the model file only, into the Hub's own cache, shared with every other Hub library); offline mode is
honoured: with ``HF_HUB_OFFLINE=1`` only the cache is used. The cache and offline settings are read
from the environment at each call (huggingface_hub reads them once, when first imported), so a
notebook or test can set them at any time. An `hf://` id met while a model file is being built (a
name stored inside a file, see `i2i.downloads`) is looked up in the cache only: nothing inside a
model file may start a download.

`push` uploads a folder in the Hub layout (`i2i.hub_export`) with `HfApi.create_repo` and
`HfApi.upload_folder`; `make_api` is the one place an `HfApi` is made (tests replace it).

This module imports neither torch nor huggingface_hub until they are needed.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from i2i import downloads
from i2i.errors import I2IError

PREFIX = "hf://"
MODEL_FILE = "model.safetensors"
_REPO = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}")
_REVISION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,199}")
EXTRA_HINT = 'pip install huggingface_hub (or "./core[hub]")'


def is_hub_id(text: Any) -> bool:
    """Whether `text` is an `hf://` model id (not a path)."""
    return isinstance(text, str) and text.startswith(PREFIX)


def parse(text: str) -> tuple[str, str | None]:
    """`hf://org/name[@revision]` -> ("org/name", revision or None); a malformed id is one line."""
    body = text[len(PREFIX) :] if is_hub_id(text) else text
    repo, sep, revision = body.partition("@")
    if not _REPO.fullmatch(repo) or ".." in repo or (sep and not _REVISION.fullmatch(revision)):
        raise I2IError(f"{text}: not a Hub model id (expected hf://org/name or hf://org/name@revision)")
    return repo, (revision or None) if sep else None


def repo_id(text: str) -> str:
    """`org/name` checked as a Hub repository id (what `i2i push` takes)."""
    repo, revision = parse(text)
    if revision is not None:
        raise I2IError(f"{text}: a repository to push to takes no @revision")
    return repo


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _hub() -> Any:
    try:
        import huggingface_hub
    except ImportError:
        raise I2IError(f"hf:// ids need huggingface_hub: {EXTRA_HINT}") from None
    return huggingface_hub


def download(text: str, filename: str = MODEL_FILE) -> Path:
    """The local path of `filename` of the model `hf://org/name[@revision]`, from the Hub's cache,
    downloading it first unless offline (``HF_HUB_OFFLINE=1``) or inside a model file's load."""
    repo, revision = parse(text)
    hub = _hub()
    from huggingface_hub import errors

    local_only = _offline() or not downloads.downloads_allowed()
    cache = os.environ.get("HF_HUB_CACHE") or None
    try:
        path = hub.hf_hub_download(
            repo, filename, revision=revision, cache_dir=cache, local_files_only=local_only
        )
    except errors.LocalEntryNotFoundError:
        why = "HF_HUB_OFFLINE=1" if _offline() else "named inside a model file, so the cache only"
        if not local_only:
            why = "the Hub cannot be reached"
        raise I2IError(f"{text}: {filename} is not in the Hugging Face cache ({why})") from None
    except errors.RepositoryNotFoundError:
        raise I2IError(
            f"{text}: no such model repository on the Hub (or it is private: huggingface-cli login)"
        ) from None
    except errors.RevisionNotFoundError:
        raise I2IError(f"{text}: no revision {revision!r} in this repository") from None
    except errors.EntryNotFoundError:
        raise I2IError(f"{text}: the repository has no {filename} (not an i2i model)") from None
    except (errors.HfHubHTTPError, OSError, ValueError) as exc:
        detail = " ".join(str(exc).split())[:160]
        raise I2IError(f"{text}: cannot fetch {filename} ({type(exc).__name__}: {detail})") from None
    return Path(path)


def make_api(token: str | None = None) -> Any:
    """A `huggingface_hub.HfApi` (its token from the login or HF_TOKEN unless given)."""
    return _hub().HfApi(token=token)


def push(
    folder: str | Path,
    repo: str,
    *,
    private: bool = False,
    token: str | None = None,
    message: str = "Upload i2i model",
) -> str:
    """Upload a Hub-layout folder to the model repository `org/name` (created if missing);
    returns the URL of the commit."""
    folder = Path(folder)
    if not (folder / MODEL_FILE).is_file() or not (folder / "README.md").is_file():
        raise I2IError(f"{folder}: not an exported Hub folder (needs {MODEL_FILE} and README.md)")
    name = repo_id(repo)
    api = make_api(token)
    api.create_repo(repo_id=name, repo_type="model", private=private, exist_ok=True)
    info = api.upload_folder(folder_path=str(folder), repo_id=name, repo_type="model", commit_message=message)
    return str(getattr(info, "commit_url", None) or info or f"https://huggingface.co/{name}")
