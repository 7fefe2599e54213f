"""Conversations in the browser app: the list a browser keeps, and the secret that binds each conversation to that browser."""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from pathlib import Path
from typing import Any

__all__ = ["TokenBook", "book_choices", "book_entry", "book_forget", "book_put", "book_rename", "browser_secret",
           "new_book"]

TITLE_CHARS = 60
MAX_ENTRIES = 200


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class TokenBook:
    """Which browser made which conversation: a random token per conversation, kept in that
    browser's storage; the server keeps only its SHA-256 (``<home>/ui-tokens.json``), so a
    thread id alone opens nothing."""

    def __init__(self, home: str | os.PathLike):
        self.path = Path(home) / "ui-tokens.json"
        self._lock = threading.Lock()

    def _read(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def _write(self, data: dict[str, str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.chmod(tmp, 0o600)
        tmp.replace(self.path)

    def issue(self, thread_id: str) -> str:
        """A new token for ``thread_id`` (returned once: the server keeps its digest)."""
        token = secrets.token_urlsafe(24)
        with self._lock:
            data = self._read()
            data[thread_id] = _digest(token)
            self._write(data)
        return token

    def check(self, thread_id: str | None, token: str | None) -> bool:
        """Whether ``token`` is the one issued for ``thread_id`` (constant-time)."""
        if not thread_id or not token:
            return False
        want = self._read().get(thread_id)
        return bool(want) and hmac.compare_digest(want, _digest(str(token)))

    def forget(self, thread_id: str) -> None:
        with self._lock:
            data = self._read()
            if data.pop(thread_id, None) is not None:
                self._write(data)


def browser_secret(home: str | os.PathLike) -> str:
    """The key Gradio encrypts the browser's stored list with; kept in ``<home>/ui-secret`` so the
    list survives a server restart."""
    p = Path(home) / "ui-secret"
    try:
        s = p.read_text(encoding="utf-8").strip()
        if s:
            return s
    except OSError:
        pass
    p.parent.mkdir(parents=True, exist_ok=True)
    s = secrets.token_urlsafe(32)
    p.write_text(s, encoding="utf-8")
    os.chmod(p, 0o600)
    return s


# ----------------------------------------------------------------------------- the browser's list
# {"items": [{"id", "title", "token", "t"}], "current": id | None}, most recent first


def new_book(book: Any = None) -> dict:
    """A well-formed list from whatever the browser's storage held."""
    items = []
    if isinstance(book, dict):
        for it in book.get("items") or []:
            if isinstance(it, dict) and isinstance(it.get("id"), str) and isinstance(it.get("token"), str):
                items.append({"id": it["id"], "title": str(it.get("title") or it["id"])[:TITLE_CHARS],
                              "token": it["token"], "t": float(it.get("t") or 0.0)})
    cur = book.get("current") if isinstance(book, dict) else None
    return {"items": items[:MAX_ENTRIES], "current": cur if any(i["id"] == cur for i in items) else None}


def book_entry(book: dict, thread_id: str | None) -> dict | None:
    return next((i for i in book["items"] if i["id"] == thread_id), None) if thread_id else None


def book_put(book: Any, thread_id: str, token: str | None = None, title: str | None = None) -> dict:
    """The list with ``thread_id`` first and current (added with its token, or touched)."""
    book = new_book(book)
    old = book_entry(book, thread_id)
    entry = {"id": thread_id, "title": (title or (old or {}).get("title") or thread_id)[:TITLE_CHARS],
             "token": token or (old or {}).get("token") or "", "t": time.time()}
    book["items"] = [entry] + [i for i in book["items"] if i["id"] != thread_id]
    book["items"] = book["items"][:MAX_ENTRIES]
    book["current"] = thread_id
    return book


def book_rename(book: Any, thread_id: str | None, title: str) -> dict:
    book = new_book(book)
    e = book_entry(book, thread_id)
    title = " ".join(str(title or "").split())[:TITLE_CHARS]
    if e is not None and title:
        e["title"] = title
    return book


def book_forget(book: Any, thread_id: str | None) -> dict:
    book = new_book(book)
    book["items"] = [i for i in book["items"] if i["id"] != thread_id]
    if book["current"] == thread_id:
        book["current"] = None
    return book


def book_choices(book: Any) -> list[tuple[str, str]]:
    """(label, thread id) for a radio list, most recent first."""
    return [(f"{i['title']} · {time.strftime('%d %b %H:%M', time.localtime(i['t']))}", i["id"])
            for i in new_book(book)["items"]]
