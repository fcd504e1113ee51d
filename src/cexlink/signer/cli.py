"""``cexlink signer …``: run the Sign Center, verify its audit log, rotate its KEK."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(help="The Sign Center: the only process that holds exchange secrets.", no_args_is_help=True)
audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")

DataDir = Annotated[Path, typer.Option(help="Key file, signer keys, audit log and the default store.")]
KekKind = Annotated[str, typer.Option(help="KEK provider: keyfile (kek.json in --data-dir) or pkcs11 (an HSM).")]
Pkcs11Lib = Annotated[str, typer.Option(help="PKCS#11 module (.so) for --kek pkcs11.")]
Pkcs11Token = Annotated[str | None, typer.Option(help="PKCS#11 token label for --kek pkcs11.")]
Pkcs11PinFile = Annotated[Path | None, typer.Option(
    help="File (mode 600) holding the token's user PIN; default: the CEXLINK_PKCS11_PIN environment variable.")]
SOFTHSM = "/usr/lib/softhsm/libsofthsm2.so"


def _check_kek(kek: str, token: str | None) -> None:
    """The KEK options make sense together (checked before anything is bound or forked)."""
    if kek not in ("keyfile", "pkcs11"):
        raise typer.BadParameter("use keyfile or pkcs11", param_hint="--kek")
    if kek == "pkcs11" and not token:
        raise typer.BadParameter("is required with --kek pkcs11", param_hint="--pkcs11-token")


def _kek(kek: str, lib: str, token: str | None, pin_file: Path | None) -> object:
    """The KEK provider the options name; None means SignCenter's default key file."""
    _check_kek(kek, token)
    if kek == "keyfile":
        return None
    from .kek import KekError
    from .pkcs11kek import Pkcs11Kek

    try:
        return Pkcs11Kek.from_config(lib, token, pin_file)
    except KekError as e:  # messages name the token and the failure, never the PIN
        raise typer.BadParameter(str(e), param_hint="--kek pkcs11") from None


def _config(data_dir: Path, store: str | None, exchange_url: list[str] | None, replica: str = "0",
            **settings: Any) -> object:
    from .engine import SignerConfig

    urls = {}
    for item in exchange_url or []:
        name, _, url = item.partition("=")
        if not url:
            raise typer.BadParameter("use EXCHANGE=URL", param_hint="--exchange-url")
        urls[name] = url
    return SignerConfig(data_dir, store_url=store, exchange_urls=urls, replica=replica, **settings)


def _policy_file(path: Path | None) -> dict[str, Any]:
    """The allowlists with a policy file's entries added (the built-in ones without a file): a bad file is a
    usage error that names the entry, before anything starts."""
    from ..errors import InputError
    from .policy import allowlists

    content: Any = {}
    if path is not None:
        try:
            content = json.loads(path.read_text())
        except OSError as e:
            raise typer.BadParameter(f"cannot read {path}: {e.strerror}", param_hint="--policy-file") from None
        except ValueError as e:
            raise typer.BadParameter(f"{path} is not JSON: {e}", param_hint="--policy-file") from None
    try:
        return allowlists(content)
    except InputError as e:
        raise typer.BadParameter(str(e), param_hint="--policy-file") from None


def _engine(config: Any, kek: Any, **kwargs: Any) -> Any:
    """A SignCenter; a replica whose audit log another process is writing is a usage error, said in one line."""
    from .audit import AuditUnavailable
    from .engine import SignCenter

    try:
        return SignCenter(config, kek=kek, **kwargs)
    except AuditUnavailable as e:
        raise typer.BadParameter(str(e), param_hint="--replica / --data-dir") from None


@app.command()
def serve(
    socket: Annotated[Path | None, typer.Option(help="Unix socket path.")] = Path("var/signer.sock"),
    http: Annotated[str | None, typer.Option(help="Also serve HTTP on HOST:PORT (needs --token-file).")] = None,
    token_file: Annotated[Path | None, typer.Option(help="File holding the HTTP bearer token.")] = None,
    store: Annotated[str | None, typer.Option(help="Store URL (default: SQLite in --data-dir; "
                                                   "postgresql+psycopg://… for a schema).")] = None,
    data_dir: DataDir = Path("var/signer"),
    exchange_url: Annotated[list[str] | None, typer.Option(help="Pin EXCHANGE=BASE_URL (e.g. the sandbox); "
                                                                "default: the real exchange.")] = None,
    replica: Annotated[str, typer.Option(help="Replica name (one audit chain per replica).")] = "0",
    workers: Annotated[int, typer.Option(min=1, max=255, help="Worker processes behind the sockets (one signs "
                                                             "on one core); each keeps an audit chain.")] = 1,
    busy_poll_us: Annotated[float, typer.Option(min=0, help="Keep polling the socket this long after an answer "
                                                            "before sleeping (0: never).")] = 100.0,
    rate_per_credential: Annotated[float, typer.Option(help="Signatures per second per credential.")] = 50.0,
    burst_per_credential: Annotated[float, typer.Option(help="Burst allowance per credential.")] = 100.0,
    policy_file: Annotated[Path | None, typer.Option(help="JSON file of endpoints to allow beyond the built-in "
                                                          "ones: {\"allow\": {EXCHANGE: [[API, METHOD, PATH], "
                                                          "...]}} (API as ccxt passes it, joined with '/').")]
    = None,
    kek: KekKind = "keyfile",
    pkcs11_lib: Pkcs11Lib = SOFTHSM,
    pkcs11_token: Pkcs11Token = None,
    pkcs11_pin_file: Pkcs11PinFile = None,
) -> None:
    """Serve the Sign Center until interrupted."""
    from .buckets import SharedBuckets
    from .engine import SignCenter, prepare
    from .server import run

    _check_kek(kek, pkcs11_token)
    host_port = None
    if http:
        host, _, port = http.rpartition(":")
        host_port = (host or "127.0.0.1", int(port))
    token = token_file.read_text().strip() if token_file else None
    if http and not token:
        raise typer.BadParameter("an HTTP Sign Center needs --token-file", param_hint="--http")

    allow = _policy_file(policy_file)

    def config(suffix: str = "") -> Any:
        return _config(data_dir, store, exchange_url, replica + suffix, rate_per_credential=rate_per_credential,
                       burst_per_credential=burst_per_credential, allow=allow)

    def make_engine(suffix: str, buckets: Any) -> SignCenter:
        provider = _kek(kek, pkcs11_lib, pkcs11_token, pkcs11_pin_file)  # in the process that uses it
        return _engine(config(suffix), provider, buckets=buckets)  # type: ignore[no-any-return]

    def ready() -> None:
        typer.echo(f"sign center ready: socket={socket} http={http or '-'} workers={workers}")

    if workers > 1:
        prepare(config(), key_file_kek=kek == "keyfile")
    status = run(make_engine, socket, host_port, token, workers=workers, busy_poll_s=busy_poll_us / 1e6,
                 on_ready=ready, shared_buckets=lambda: SharedBuckets(rate_per_credential, burst_per_credential,
                                                                      data_dir / "buckets.lock"))
    raise typer.Exit(status)


@audit_app.command("verify")
def audit_verify(
    data_dir: DataDir = Path("var/signer"),
    log: Annotated[Path | None, typer.Option(help="Audit log (default: every audit-*.log).")] = None,
) -> None:
    """Check the hash chain and checkpoint signatures; report the first tampered, removed or reordered record."""
    from .audit import verify
    from .engine import SignerSecrets

    public = SignerSecrets(data_dir / "signer-keys.json").checkpoint_key.public_key()
    logs = [log] if log else sorted(data_dir.glob("audit-*.log"))
    if not logs:
        typer.echo(f"no audit log in {data_dir}", err=True)
        raise typer.Exit(2)
    failed = False
    for path in logs:
        result = verify(path, public)
        typer.echo(json.dumps({"log": str(path), **result.__dict__}))
        failed |= not result.ok
    raise typer.Exit(1 if failed else 0)


@app.command("rotate-kek")
def rotate_kek(data_dir: DataDir = Path("var/signer"),
               store: Annotated[str | None, typer.Option(help="Store URL.")] = None,
               retire_old: Annotated[bool, typer.Option(help="Retire every older KEK version.")] = False,
               kek: KekKind = "keyfile", pkcs11_lib: Pkcs11Lib = SOFTHSM, pkcs11_token: Pkcs11Token = None,
               pkcs11_pin_file: Pkcs11PinFile = None) -> None:
    """Create a new KEK version and rewrap every data key under it (run while the signer is stopped, or use
    the rotate_kek operation on the running signer)."""
    engine = _engine(_config(data_dir, store, None), _kek(kek, pkcs11_lib, pkcs11_token, pkcs11_pin_file))
    try:
        typer.echo(json.dumps(engine.rotate_kek(retire_old=retire_old)))
    finally:
        engine.close()
