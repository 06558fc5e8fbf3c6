"""The API token: random, made on first start, readable by the user alone.

Anything on this machine can reach 127.0.0.1, including web pages a browser has open; the token is what
tells a plugin the user installed from everything else. A plugin reads it from the file (or the user
pastes it into the plugin's settings) and sends it as `Authorization: Bearer <token>`.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
from pathlib import Path

TOKEN_FILE = "api-token"
log = logging.getLogger(__name__)


def load_or_create_token(config_dir: Path) -> str:
    """The token in `config_dir/api-token`, created (mode 0600) if there is none; group or world access to
    an existing file is removed."""
    config_dir.mkdir(parents=True, exist_ok=True)
    path = config_dir / TOKEN_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            log.warning("%s was readable by others (mode %o): restricting it to its owner", path, mode)
            path.chmod(0o600)
        token = path.read_text().strip()
        if len(token) >= 32:
            return token
        log.warning("%s held no usable token: making a new one", path)
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC, 0o600)
    token = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token
