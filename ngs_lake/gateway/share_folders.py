"""Where a share's files live: `<share root>/<gateway>/<share name>`, and never anywhere else.

A share name comes from an API caller, so it is held to AWS's rules for an SMB FileShareName
(1 to 255 characters, none of `[ ] # ; < > : " \\ / | ? * +`, no ASCII control character;
https://docs.aws.amazon.com/storagegateway/latest/APIReference/API_CreateSMBFileShare.html), and
its folder is checked after resolving symlinks and `..`: it must lie inside its gateway's folder
under the share root, or the gateway would scan and upload whatever that other folder holds.
"""

from __future__ import annotations

from pathlib import Path

# AWS names control characters 1-31; NUL (0) cannot be in a path at all, so it is refused too.
FORBIDDEN_CHARACTERS = set('[]#;<>:"\\/|?*+') | {chr(c) for c in range(32)}


def share_name_refusal(name: str) -> str | None:
    """Why `name` is not a valid SMB FileShareName, or None if it is."""
    if not 1 <= len(name) <= 255:
        return f"FileShareName must be 1 to 255 characters long, not {len(name)}"
    bad = sorted({c for c in name if c in FORBIDDEN_CHARACTERS})
    if bad:
        return f"FileShareName {name!r} holds characters a share name cannot: {bad}"
    return None


def share_folder(share_root: Path, gateway_name: str, share_name: str) -> Path:
    """The share's folder, or ValueError if the name breaks AWS's rules or the folder, resolved,
    is not strictly inside the gateway's folder under `share_root`."""
    reason = share_name_refusal(share_name)
    if reason is not None:
        raise ValueError(reason)
    folder = share_root / gateway_name / share_name
    gateway_folder = (share_root / gateway_name).resolve()
    resolved = folder.resolve()
    if resolved.parent != gateway_folder or not resolved.is_relative_to(share_root.resolve()):
        raise ValueError(
            f"share {share_name!r} would have its folder at {resolved}, outside {gateway_folder}; "
            "a share's folder must be directly inside its gateway's folder"
        )
    return folder
