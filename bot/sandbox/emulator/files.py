"""files.*: the two-step upload (getUploadURLExternal, completeUploadExternal), files.info, and
the upload and download URLs."""

from __future__ import annotations

import mimetypes
import time
from collections.abc import Mapping
from typing import Any

from .messages import MessageStore
from .protocol import ApiError, JsonDict, Reply, id_list, opt_int, opt_str

_FILE_TYPES = {
    "txt": ("text", "Plain Text"),
    "csv": ("csv", "CSV"),
    "json": ("json", "JSON"),
    "md": ("markdown", "Markdown (raw)"),
    "py": ("python", "Python"),
    "pdf": ("pdf", "PDF"),
    "png": ("png", "PNG"),
    "jpg": ("jpg", "JPEG"),
    "jpeg": ("jpg", "JPEG"),
    "gif": ("gif", "GIF"),
    "zip": ("zip", "Zip"),
    "log": ("text", "Plain Text"),
    "yaml": ("yaml", "YAML"),
    "yml": ("yaml", "YAML"),
    "html": ("html", "HTML"),
}


class FileMethods(MessageStore):
    """The files.* Web API methods, the upload and download URLs, and files people share."""

    def _file_object(self, record: JsonDict) -> JsonDict:
        name = str(record["name"])
        extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
        filetype, pretty = _FILE_TYPES.get(extension, (extension or "binary", "Binary"))
        base = self.base_url if self._server is not None else "http://127.0.0.1"
        url = f"{base}/files/{record['id']}/{name}"
        shares: JsonDict = {}
        for share in record.get("shares", []):
            kind = "private" if self._channel_type(share["channel"]) != "channel" else "public"
            entry: JsonDict = {
                "reply_users": [],
                "reply_users_count": 0,
                "reply_count": 0,
                "ts": share["ts"],
                "channel_name": self._channel_name(share["channel"]),
                "team_id": self.team_id,
                "share_user_id": record["user"],
                "source": "UNKNOWN",
                "is_silent_share": False,
            }
            if share.get("thread_ts"):
                entry["thread_ts"] = share["thread_ts"]
            shares.setdefault(kind, {}).setdefault(share["channel"], []).append(entry)
        channels = [s["channel"] for s in record.get("shares", [])]
        content = record.get("content")
        return {
            "id": record["id"],
            "created": record["created"],
            "timestamp": record["created"],
            "name": name,
            "title": record.get("title") or name,
            "mimetype": mimetypes.guess_type(name)[0] or "application/octet-stream",
            "filetype": filetype,
            "pretty_type": pretty,
            "user": record["user"],
            "user_team": self.team_id,
            "editable": False,
            "size": len(content) if isinstance(content, bytes) else int(record.get("length", 0)),
            "mode": "hosted",
            "is_external": False,
            "external_type": "",
            "is_public": any(self._channel_type(c) == "channel" for c in channels),
            "public_url_shared": False,
            "display_as_bot": False,
            "username": "",
            "url_private": url,
            "url_private_download": f"{url}?download=1",
            "permalink": f"{self.web_url}files/{record['user']}/{record['id']}/{name}",
            "permalink_public": f"https://slack-files.slack.test/{self.team_id}-{record['id']}",
            "comments_count": 0,
            "is_starred": False,
            "shares": shares,
            "channels": [c for c in channels if self._channel_type(c) == "channel"],
            "groups": [c for c in channels if self._channel_type(c) in ("group", "mpim")],
            "ims": [c for c in channels if self._channel_type(c) == "im"],
            "has_more_shares": False,
            "has_rich_preview": False,
            "file_access": "visible",
            "alt_txt": record.get("alt_txt", ""),
        }

    def _files_get_upload_url(self, params: JsonDict) -> JsonDict:
        filename = opt_str(params, "filename")
        if not filename or params.get("length") in (None, ""):
            raise ApiError("invalid_arguments")
        length = opt_int(params, "length", 0)
        file_id = self._new_id("F", 10)
        self._files[file_id] = {
            "id": file_id,
            "name": filename,
            "length": length,
            "alt_txt": opt_str(params, "alt_txt"),
            "content": None,
            "user": self.bot_user_id,
            "created": int(time.time()),
            "shares": [],
        }
        return {"ok": True, "upload_url": f"{self.base_url}/upload/{file_id}", "file_id": file_id}

    def _files_complete_upload(self, params: JsonDict) -> JsonDict:
        entries = params.get("files")
        if not isinstance(entries, list) or not entries:
            raise ApiError("invalid_arguments")
        records: list[JsonDict] = []
        for entry in entries:
            if not isinstance(entry, dict):
                raise ApiError("invalid_arguments")
            record = self._files.get(str(entry.get("id", "")))
            if record is None or record.get("content") is None:
                raise ApiError("file_not_found")
            records.append(record)
        channel_ids = id_list(params.get("channels"))
        if params.get("channel_id"):
            channel_ids.insert(0, opt_str(params, "channel_id"))
        channels = [self._resolve_channel(c) for c in channel_ids]
        thread_ts = opt_str(params, "thread_ts")
        roots = {c: self._thread_root(c, thread_ts) for c in channels} if thread_ts else {}
        for record, entry in zip(records, entries, strict=True):
            if entry.get("title"):
                record["title"] = str(entry["title"])
        comment = opt_str(params, "initial_comment")
        self._check_text(comment)
        for channel in channels:
            message = self._bot_message(comment, None)
            for record in records:
                share: JsonDict = {"channel": channel, "ts": message["ts"]}
                if thread_ts:
                    share["thread_ts"] = roots[channel]["ts"]
                record["shares"].append(share)
            message["files"] = [self._file_object(r) for r in records]
            message["upload"] = True
            message["display_as_bot"] = False
            self._store(channel, message, root=roots.get(channel))
        return {"ok": True, "files": [self._file_object(r) for r in records]}

    def _files_info(self, params: JsonDict) -> JsonDict:
        record = self._files.get(opt_str(params, "file"))
        if record is None:
            raise ApiError("file_not_found")
        return {
            "ok": True,
            "file": self._file_object(record),
            "comments": [],
            "response_metadata": {"next_cursor": ""},
        }

    def _files_upload_v1(self, params: JsonDict) -> JsonDict:
        # Slack retired files.upload; files_upload_v2 is the supported path.
        raise ApiError("method_deprecated")

    def _handle_upload(self, file_id: str, body: bytes) -> Reply:
        with self._changed:
            if self._down:
                return 503, {"Content-Type": "text/plain"}, b"service unavailable"
            record = self._files.get(file_id.strip("/"))
            if record is None:
                return 404, {"Content-Type": "text/plain"}, b"not found"
            record["content"] = bytes(body)
            self._changed.notify_all()
        return 200, {"Content-Type": "text/plain; charset=utf-8"}, f"OK - {len(body)}".encode()

    def _handle_file_download(self, path: str, headers: Mapping[str, str]) -> Reply:
        authorization = headers.get("authorization", "")
        if authorization != f"Bearer {self.token}":
            return 403, {"Content-Type": "text/plain"}, b"forbidden"
        with self._lock:
            record = self._files.get(path.split("/", 1)[0])
            content = record.get("content") if record else None
        if not isinstance(content, bytes):
            return 404, {"Content-Type": "text/plain"}, b"not found"
        return 200, {"Content-Type": "application/octet-stream"}, content

    def _user_file(self, spec: Mapping[str, Any], user: str, channel: str, ts: str) -> JsonDict:
        content = spec.get("content")
        if isinstance(content, str):
            content = content.encode("utf-8")
        file_id = str(spec.get("id") or self._new_id("F", 10))
        record: JsonDict = {
            "id": file_id,
            "name": str(spec.get("name", "file")),
            "title": str(spec.get("title", "") or spec.get("name", "file")),
            "length": len(content) if isinstance(content, bytes) else int(spec.get("size", 0)),
            "content": content if isinstance(content, bytes) else None,
            "user": user,
            "created": int(time.time()),
            "shares": [{"channel": channel, "ts": ts}],
        }
        self._files[file_id] = record
        return record
