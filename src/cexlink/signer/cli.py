"""``cexlink signer …``: run the Sign Center, verify its audit log, rotate its KEK."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(help="The Sign Center: the only process that holds exchange secrets.", no_args_is_help=True)
audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
checkpoint_app = typer.Typer(help="The key that signs the audit checkpoints.", no_args_is_help=True)
app.add_typer(checkpoint_app, name="checkpoint-key")

DataDir = Annotated[Path, typer.Option(help="Key file, signer keys, audit log and the default store.")]
KekKind = Annotated[str, typer.Option(help="KEK provider: keyfile (kek.json in --data-dir) or pkcs11 (an HSM).")]
Pkcs11Lib = Annotated[str, typer.Option(help="PKCS#11 module (.so) for --kek pkcs11.")]
Pkcs11Token = Annotated[str | None, typer.Option(help="PKCS#11 token label for --kek pkcs11.")]
Pkcs11PinFile = Annotated[Path | None, typer.Option(
    help="File (mode 600) holding the token's user PIN; default: the CEXLINK_PKCS11_PIN environment variable.")]
SOFTHSM = "/usr/lib/softhsm/libsofthsm2.so"
CheckpointKey = Annotated[Path | None, typer.Option(
    help="Ed25519 key (PEM, mode 600) that signs the audit checkpoints; made if missing. It must be outside "
         "--data-dir. Default: <data-dir>-checkpoint.key beside it.")]


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

    assert token is not None  # _check_kek: required with pkcs11
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


def _egress(addresses: list[str] | None) -> list[str]:
    """The egress addresses, each a plain IP address (a usage error otherwise)."""
    import ipaddress

    for address in addresses or []:
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise typer.BadParameter(f"{address!r} is not an IP address", param_hint="--egress-ip") from None
    return list(addresses or [])


def _usage(check: Any, *args: Any) -> Any:
    """``check(*args)``, its InputError a usage error (exit 2) naming the option it names."""
    from ..errors import InputError

    try:
        return check(*args)
    except InputError as e:
        raise typer.BadParameter(e.message, param_hint=e.field) from None


def _read_json(path: Path, option: str) -> Any:
    """A JSON file an option names; unreadable or not JSON is a usage error naming the option."""
    try:
        return json.loads(path.read_text())
    except OSError as e:
        raise typer.BadParameter(f"cannot read {path}: {e.strerror}", param_hint=option) from None
    except ValueError as e:
        raise typer.BadParameter(f"{path} is not JSON: {e}", param_hint=option) from None


def _policy_file(path: Path | None) -> dict[str, Any]:
    """The allowlists with a policy file's entries added (the built-in ones without a file): a bad file is a
    usage error that names the entry, before anything starts."""
    from ..errors import InputError
    from .policy import allowlists

    content: Any = _read_json(path, "--policy-file") if path is not None else {}
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
    token_file: Annotated[Path | None, typer.Option(help="File (mode 600) holding the HTTP bearer token: at "
                                                         "least 32 random bytes, hex or base64.")] = None,
    tls_cert: Annotated[Path | None, typer.Option(help="TLS certificate chain (PEM) for --http; required "
                                                       "beyond loopback.")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="TLS private key (PEM) for --tls-cert.")] = None,
    store: Annotated[str | None, typer.Option(help="Store URL (default: SQLite in --data-dir; "
                                                   "postgresql+psycopg://… for a schema).")] = None,
    data_dir: DataDir = Path("var/signer"),
    exchange_url: Annotated[list[str] | None, typer.Option(help="Pin EXCHANGE=BASE_URL (e.g. the sandbox); "
                                                                "default: the real exchange.")] = None,
    egress_ip: Annotated[list[str] | None, typer.Option(help="A source address forwarded requests may be sent "
                                                            "from when the caller names it (repeat for each of "
                                                            "the platform's egress IPs).")] = None,
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
    checkpoint_key: CheckpointKey = None,
    checkpoint_interval: Annotated[float, typer.Option(min=0.001, help="Seconds a record may wait for a signed "
                                                                       "checkpoint while signing goes on.")] = 1.0,
) -> None:
    """Serve the Sign Center until interrupted."""
    from .buckets import SharedBuckets
    from .engine import SignCenter, prepare
    from .server import harden_process, http_listen, read_token, run

    harden_process()  # before the token, a key or a secret is read
    _check_kek(kek, pkcs11_token)
    host_port, tls = _usage(http_listen, http, tls_cert, tls_key) if http else (None, None)
    token = _usage(read_token, token_file) if token_file else None
    if http and not token:
        raise typer.BadParameter("an HTTP Sign Center needs --token-file", param_hint="--http")

    allow = _policy_file(policy_file)
    key_path = _checkpoint_key(data_dir, checkpoint_key)

    def config(suffix: str = "") -> Any:
        return _config(data_dir, store, exchange_url, replica + suffix, rate_per_credential=rate_per_credential,
                       burst_per_credential=burst_per_credential, allow=allow, checkpoint_key=key_path,
                       checkpoint_interval_s=checkpoint_interval, egress_ips=_egress(egress_ip))

    def make_engine(suffix: str, buckets: Any) -> SignCenter:
        provider = _kek(kek, pkcs11_lib, pkcs11_token, pkcs11_pin_file)  # in the process that uses it
        return _engine(config(suffix), provider, buckets=buckets)

    def ready() -> None:
        typer.echo(f"sign center ready: socket={socket} http={http or '-'} workers={workers}")

    if workers > 1:
        prepare(config(), key_file_kek=kek == "keyfile")
    status = run(make_engine, socket, host_port, token, workers=workers, busy_poll_s=busy_poll_us / 1e6,
                 on_ready=ready, shared_buckets=lambda: SharedBuckets(rate_per_credential, burst_per_credential,
                                                                      data_dir / "buckets.lock"), tls=tls)
    raise typer.Exit(status)


def _checkpoint_key(data_dir: Path, path: Path | None) -> Path:
    """The checkpoint key's path, the key made there if missing: a path inside the data directory, a file
    others can read or one that holds no Ed25519 key is a usage error, before anything starts."""
    from ..errors import InputError
    from .checkpoint_key import default_checkpoint_key_path, open_checkpoint_key

    path = path or default_checkpoint_key_path(data_dir)
    try:
        open_checkpoint_key(path, data_dir)
    except InputError as e:
        raise typer.BadParameter(e.message, param_hint="--checkpoint-key") from None
    return path


@checkpoint_app.command("public")
def checkpoint_key_public(
    checkpoint_key: Annotated[Path, typer.Option(help="The checkpoint key file (as given to serve).")],
    pem: Annotated[bool, typer.Option(help="PEM instead of one base64 line.")] = False,
) -> None:
    """Print the checkpoint key's public key, for ``audit verify --public-key``. Keep it where the Sign
    Center's host cannot change it."""
    from cryptography.hazmat.primitives import serialization

    from ..errors import InputError
    from .checkpoint_key import open_checkpoint_key, public_key_text

    try:
        public = open_checkpoint_key(checkpoint_key, None, create=False).public_key()
    except InputError as e:
        raise typer.BadParameter(e.message, param_hint="--checkpoint-key") from None
    typer.echo(public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
               .decode().strip() if pem else public_key_text(public))


def _anchor(path: Path) -> list[dict[str, Any]]:
    """The heads of an anchor file (``{"heads": [...]}``, as the API server exports them); a bad file is a usage
    error naming the field."""
    from ..errors import InputError
    from .audit_verify import check_head

    content = _read_json(path, "--anchor")
    if not isinstance(content, dict) or not isinstance(content.get("heads"), list):
        raise typer.BadParameter('heads: must be a list ({"heads": [...]})', param_hint="--anchor")
    try:
        return [check_head(head) for head in content["heads"]]
    except InputError as e:
        raise typer.BadParameter(str(e), param_hint="--anchor") from None


@audit_app.command("verify")
def audit_verify(
    public_key: Annotated[list[str], typer.Option(
        help="The checkpoint key's public key: a file or the text (PEM, or base64 as `signer checkpoint-key "
             "public` prints it). Never read from the data directory. Repeat it to accept an older key too.")],
    data_dir: DataDir = Path("var/signer"),
    log: Annotated[Path | None, typer.Option(help="Audit log (default: every audit-*.log).")] = None,
    anchor: Annotated[Path | None, typer.Option(
        help="Checkpoint heads kept outside the Sign Center ({\"heads\": [...]}, exported by the API server): "
             "finds a log cut back, emptied, rewritten, or without its checkpoint copy.")] = None,
) -> None:
    """Check the hash chain and checkpoint signatures; report the first tampered, removed or reordered record."""
    from ..errors import InputError
    from .audit_verify import VerifyResult, verify
    from .checkpoint_key import load_public_key

    try:
        keys = [load_public_key(value) for value in public_key]
    except InputError as e:
        raise typer.BadParameter(e.message, param_hint="--public-key") from None
    heads = _anchor(anchor) if anchor else []
    logs = [log] if log else sorted(data_dir.glob("audit-*.log"))
    names = {path.name for path in logs}
    # An anchored log that is gone is a failure of its own (unless one log was asked for).
    missing = sorted({h["log"] for h in heads if h["log"] not in names}) if not log else []
    if not logs and not missing:
        typer.echo(f"no audit log in {data_dir}", err=True)
        raise typer.Exit(2)
    failed = False
    for path in logs:
        result = verify(path, keys, [h for h in heads if h["log"] == path.name])
        typer.echo(json.dumps({"log": str(path), **result.__dict__}))
        failed |= not result.ok
    for name in missing:
        gone = VerifyResult(False, 0, 0, f"the anchored log {name} is missing (deleted)")
        typer.echo(json.dumps({"log": str(data_dir / name), **gone.__dict__}))
        failed = True
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
