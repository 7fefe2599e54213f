"""``mixingbuddy ui``: the command's options and its start-up, without importing Gradio until
the app is actually served (so ``mixingbuddy ui --help`` answers at once)."""
from __future__ import annotations

from ..tools.errors import InvalidArgumentError
from .uploads import UploadLimits

__all__ = ["add_ui_parser", "cmd_ui"]


def add_ui_parser(subparsers) -> None:
    """``mixingbuddy ui [--host 127.0.0.1] [--port 7860] [--home DIR] ...``"""
    p = subparsers.add_parser("ui", help="serve the browser app (Gradio) on 127.0.0.1:7860")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1; 0.0.0.0 serves every interface)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860; 0 picks a free one)")
    p.add_argument("--home", default=None,
                   help="folder for conversations (default $MIXINGBUDDY_HOME or ~/.mixingbuddy)")
    p.add_argument("--weights", default=None, help="audio-model folder (default: the shipped model/weights/)")
    p.add_argument("--no-model", action="store_true", help="review with the measurement tools only")
    p.add_argument("--max-upload-mb", type=float, default=None,
                   help=f"upload limit per review in MB (default {UploadLimits().max_total_bytes // 1_000_000})")
    p.add_argument("--max-files", type=int, default=None,
                   help=f"files per review (default {UploadLimits().max_files})")
    p.add_argument("--allowed-hosts", default=None,
                   help="comma-separated Host names the server answers (default: the --host address, "
                        "and localhost for 127.0.0.1; any for 0.0.0.0)")
    p.add_argument("--concurrency", type=int, default=2, help="reviews run at once (default 2)")
    p.set_defaults(func=cmd_ui)


def cmd_ui(args) -> int:
    """Bind the address first and answer on it with a "starting" page (``ui.starting``) while the
    agent and Gradio load, then serve the app on the same socket."""
    import signal
    import threading

    from .starting import StartingPage, allowed_host_names, bind_listening_socket, on_sigterm

    if not 0 <= args.port <= 65535:
        raise InvalidArgumentError(f"--port must be 0-65535, got {args.port}")
    if args.concurrency < 1:
        raise InvalidArgumentError(f"--concurrency must be at least 1, got {args.concurrency}")
    limits = UploadLimits.from_env()
    limits = UploadLimits(
        max_total_bytes=int(args.max_upload_mb * 1_000_000) if args.max_upload_mb else limits.max_total_bytes,
        max_files=args.max_files or limits.max_files,
        max_unzipped_bytes=5 * int(args.max_upload_mb * 1_000_000) if args.max_upload_mb else limits.max_unzipped_bytes)
    allowed = [h.strip() for h in (args.allowed_hosts or "").split(",") if h.strip()] or None
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_sigterm)  # a stop while loading exits cleanly too
    try:
        sock = bind_listening_socket(args.host, args.port)
    except OSError as e:
        raise InvalidArgumentError(str(e.strerror or e)) from e
    starting = StartingPage(sock, allowed_host_names(args.host, allowed)).start()
    try:
        from ..agent.api import MixingBuddy
        from .app import AppConfig, llm_banner, serve

        mb = MixingBuddy(args.home, weights=args.weights, use_model=not args.no_model)
        mb.warm_up()  # the audio model and the separator load while the page comes up
        banner = llm_banner(mb)
        port = sock.getsockname()[1]
        print(f"MixingBuddy on http://{args.host}:{port}"
              + (f"\n{banner.replace('**', '')}" if banner else " (embedded defaults, no network)"), flush=True)
        serve(mb, host=args.host, config=AppConfig(limits=limits, concurrency=args.concurrency), quiet=True,
              allowed_hosts=allowed, sock=sock, starting=starting)
    finally:
        starting.stop()
        sock.close()
    return 0
