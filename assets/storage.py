"""The lake's files beside its Delta tables (model artifacts, tile rasters, exports, maps), on local
disk or on an object store, through one layer: `obstore`, the Python binding of the Rust
`object_store` crate that delta-rs itself uses, configured from the same storage options.

A path here is relative to the lake root (`ml/artifacts/<model>/<version>/model.pt`); `uri(rel)`
gives the address stored in tables (an absolute local path, or s3://bucket/prefix/rel). Code that
needs a real folder (torch.save, GeoParquet writers) works in `staged(rel)`: on a local lake that
is the folder itself; on a remote one a local cache folder, downloaded first and uploaded after.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

import obstore
from obstore.store import LocalStore, from_url

# delta-rs options that only steer the Delta log protocol: object_store would reject them
_DELTA_ONLY = {"aws_s3_allow_unsafe_rename", "aws_s3_locking_provider", "delta_dynamo_table_name",
               "conditional_put", "aws_conditional_put"}
# delta-rs spells some keys differently from object_store's S3 config
_ALIASES = {"aws_endpoint_url": "aws_endpoint", "aws_default_region": "aws_region"}
_CLIENT = {"aws_allow_http": "allow_http", "allow_http": "allow_http", "timeout": "timeout",
           "connect_timeout": "connect_timeout"}


def is_remote(root: str) -> bool:
    return "://" in root and not root.startswith("file://")


def object_store_config(storage_options: dict | None) -> tuple[dict, dict]:
    """delta-rs storage options (any case, e.g. AWS_ENDPOINT_URL, AWS_ALLOW_HTTP) as obstore's
    (config, client_options); Delta-log-only keys are dropped."""
    config, client = {}, {}
    for k, v in (storage_options or {}).items():
        key = str(k).lower()
        if key in _DELTA_ONLY:
            continue
        if key in _CLIENT:
            client[_CLIENT[key]] = str(v).lower() in ("1", "true", "yes") if _CLIENT[key] == "allow_http" else v
            continue
        config[_ALIASES.get(key, key)] = v
    return config, client


def duckdb_s3_secret(storage_options: dict | None, bucket: str) -> str | None:
    """A DuckDB `CREATE SECRET` statement (httpfs/delta extensions) for the same S3 endpoint and
    credentials as delta-rs, or None when the options carry no explicit credentials (DuckDB's
    default chain is then left alone)."""
    cfg, client = object_store_config(storage_options)
    if "aws_access_key_id" not in cfg:
        return None

    def q(v) -> str:
        return "'" + str(v).replace("'", "''") + "'"

    parts = [f"KEY_ID {q(cfg['aws_access_key_id'])}", f"SECRET {q(cfg.get('aws_secret_access_key', ''))}",
             f"REGION {q(cfg.get('aws_region', 'us-east-1'))}", f"SCOPE {q('s3://' + bucket)}"]
    if cfg.get("aws_session_token"):
        parts.append(f"SESSION_TOKEN {q(cfg['aws_session_token'])}")
    endpoint = cfg.get("aws_endpoint")
    if endpoint:
        scheme, _, host = str(endpoint).partition("://")
        parts += [f"ENDPOINT {q(host.rstrip('/'))}", f"USE_SSL {'false' if scheme == 'http' else 'true'}"]
        virtual = str(cfg.get("aws_virtual_hosted_style_request", "false")).lower() == "true"
        parts.append(f"URL_STYLE {q('vhost' if virtual else 'path')}")
    name = "lake_" + hashlib.sha256(bucket.encode()).hexdigest()[:8]
    return f"CREATE OR REPLACE SECRET {name} (TYPE s3, {', '.join(parts)})"


class LakeFiles:
    """Files under the lake root (a local folder or an object-store URI such as s3://bucket/lake)."""

    def __init__(self, root: str, storage_options: dict | None = None, cache_dir: str | Path | None = None):
        self.root = root.rstrip("/")
        self.remote = is_remote(self.root)
        if self.remote:
            config, client = object_store_config(storage_options)
            self.store = from_url(self.root, config=config, client_options=client or None)
            base = Path(cache_dir) if cache_dir else Path(tempfile.gettempdir()) / "lakehouse-cache"
            self.cache = base / hashlib.sha256(self.root.encode()).hexdigest()[:16]
        else:
            self.local = Path(self.root.removeprefix("file://"))
            self.local.mkdir(parents=True, exist_ok=True)
            self.store = LocalStore(self.local, mkdir=True)
            self.cache = self.local

    # -- addressing
    def uri(self, rel: str) -> str:
        rel = rel.strip("/")
        return f"{self.root}/{rel}" if self.remote else str(self.local / rel)

    def local_path(self, rel: str) -> Path:
        """Where `rel` lives on this machine: the file itself on a local lake, its cache copy on a
        remote one (see `fetch`)."""
        return self.cache / rel.strip("/")

    # -- bytes
    def put_bytes(self, rel: str, data: bytes) -> str:
        """Write one file (atomically: a local write goes through a temporary file and a rename;
        an object-store PUT is all or nothing). Returns its uri."""
        obstore.put(self.store, rel.strip("/"), data)
        return self.uri(rel)

    def get_bytes(self, rel: str) -> bytes:
        try:
            return bytes(obstore.get(self.store, rel.strip("/")).bytes())
        except FileNotFoundError as exc:
            raise FileNotFoundError(f"{self.uri(rel)} does not exist in the lake") from exc

    def exists(self, rel: str) -> bool:
        try:
            obstore.head(self.store, rel.strip("/"))
            return True
        except FileNotFoundError:
            return False

    def list(self, prefix: str = "") -> list[str]:
        """Relative paths of every file under `prefix` (recursive), sorted."""
        out = []
        for batch in obstore.list(self.store, prefix=prefix.strip("/") or None):  # whole path segments
            out += [m["path"] for m in batch]
        return sorted(out)

    def delete(self, rel: str) -> None:
        obstore.delete(self.store, rel.strip("/"))

    # -- files and folders for code that needs a path
    def fetch(self, rel_or_uri: str) -> Path:
        """A local path holding the file: itself on a local lake, a cached download on a remote
        one (downloaded again when the object's size or date differs from the cached copy's)."""
        rel = self.relative(rel_or_uri)
        dest = self.local_path(rel)
        if self.remote:
            meta = obstore.head(self.store, rel)
            stamp = meta["last_modified"].timestamp()
            if not (dest.exists() and dest.stat().st_size == meta["size"] and dest.stat().st_mtime == stamp):
                dest.parent.mkdir(parents=True, exist_ok=True)
                tmp = dest.with_name(dest.name + f".{os.getpid()}.part")
                tmp.write_bytes(self.get_bytes(rel))
                os.utime(tmp, (stamp, stamp))   # the cached copy carries the object's date
                tmp.replace(dest)
        return dest

    def localise(self, df, column: str):
        """`df` (Polars) with the lake uris in `column` replaced by local paths (`fetch`): for
        readers that open files by path. Unchanged on a local lake."""
        if not self.remote or df.is_empty():
            return df
        import polars as pl

        local = {u: str(self.fetch(u)) for u in df[column].drop_nulls().unique().to_list()}
        return df.with_columns(pl.col(column).replace(local))

    def relative(self, rel_or_uri: str) -> str:
        """`rel_or_uri` (a uri returned by this class, or already relative) relative to the root."""
        s = str(rel_or_uri)
        for base in (self.root, str(getattr(self, "local", ""))):
            if base and s.startswith(base + "/"):
                return s[len(base) + 1:]
        return s.strip("/")

    def pull_dir(self, rel: str) -> Path:
        """A local folder with every file under `rel` (created if there are none)."""
        rel = rel.strip("/")
        if self.remote:
            for f in self.list(rel):
                self.fetch(f)
        d = self.local_path(rel)
        d.mkdir(parents=True, exist_ok=True)
        return d

    def push_dir(self, rel: str) -> list[str]:
        """Upload the local folder of `rel` (see `pull_dir`) to the store: files missing there, of
        another size, or written locally since their upload (an uploaded file takes the object's
        date). Nothing to do on a local lake. Returns the uploaded relative paths."""
        if not self.remote:
            return []
        rel = rel.strip("/")
        d = self.local_path(rel)
        have = {m["path"]: (m["size"], m["last_modified"].timestamp())
                for batch in obstore.list(self.store, prefix=rel) for m in batch}
        sent = []
        for f in sorted(p for p in d.rglob("*") if p.is_file() and not p.name.endswith(".part")):
            r = f"{rel}/{f.relative_to(d).as_posix()}"
            st = f.stat()
            if r not in have or have[r][0] != st.st_size or st.st_mtime > have[r][1]:   # new or written since
                obstore.put(self.store, r, f.read_bytes())
                stamp = obstore.head(self.store, r)["last_modified"].timestamp()
                os.utime(f, (stamp, stamp))
                sent.append(r)
        return sent

    @contextmanager
    def staged(self, rel: str):
        """A local folder for `rel` to write into; on a remote lake its files are uploaded when the
        block ends without an error."""
        d = self.pull_dir(rel)
        yield d
        self.push_dir(rel)


def duckdb_extension(name: str) -> Path:
    """A DuckDB extension shipped by its `duckdb-extension-<name>` wheel for this DuckDB version
    (DuckDB cannot download extensions on these machines)."""
    import importlib

    import duckdb

    base = Path(importlib.import_module(f"duckdb_extension_{name}").__file__).parent / "extensions"
    found = sorted(base.glob(f"v{duckdb.__version__}/{name}.duckdb_extension")) or sorted(
        base.glob(f"*/{name}.duckdb_extension"))
    if not found:
        raise FileNotFoundError(f"no {name}.duckdb_extension under {base}: install duckdb-extension-{name}"
                                f"=={duckdb.__version__}")
    return found[0]


def delta_tables(files: LakeFiles) -> list[str]:
    """Relative paths of the Delta tables under the lake root: `<layer>/<table>` and top-level
    tables such as `quarantine` (a folder holding a `_delta_log`)."""
    def subdirs(prefix: str | None) -> list[str]:
        return sorted(obstore.list_with_delimiter(files.store, prefix=prefix)["common_prefixes"])

    out = []
    for top in subdirs(None):
        below = subdirs(top)
        if f"{top}/_delta_log" in below:
            out.append(top)
            continue
        out += [t for t in below if f"{t}/_delta_log" in subdirs(t)]
    return out


def attach_lake_views(con, root: str, storage_options: dict | None = None) -> list[str]:
    """Load DuckDB's delta extension (and httpfs with an S3 secret from the delta-rs storage
    options, for a lake on an object store) into `con` and create one view per Delta table,
    `<layer>_<table>`, reading the live table in place. Returns the view names."""
    files = LakeFiles(root, storage_options)
    if files.remote:
        con.execute(f"LOAD '{duckdb_extension('httpfs')}'")
        secret = duckdb_s3_secret(storage_options, root.split("://", 1)[1].split("/", 1)[0])
        if secret:
            con.execute(secret)
    con.execute(f"LOAD '{duckdb_extension('delta')}'")
    names = []
    for rel in delta_tables(files):
        name = rel.replace("/", "_")
        where = files.uri(rel).replace("'", "''")
        con.execute(f"CREATE OR REPLACE VIEW \"{name}\" AS SELECT * FROM delta_scan('{where}')")
        names.append(name)
    return names


@contextmanager
def replaced_atomically(path: str | Path):
    """Yield a temporary path beside `path` (same folder, so the rename stays on one file system);
    when the block ends without an error the temporary file is renamed over `path` (a reader that
    holds the old file open keeps a consistent one), and on an error it is removed, so a failed
    write never leaves a half-written file or a stray temporary one behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    try:
        yield tmp
    except BaseException:
        for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
            leftover.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)
