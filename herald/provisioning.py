"""Creating accounts and API keys, and the first-start credentials file.

On its first start Herald creates an account and writes `credentials.env`, so that
the README's examples can `source` it and work as written.
"""

from __future__ import annotations

from pathlib import Path

from herald.domain.accounts import Account, ApiKey, hash_secret
from herald.domain.sids import Prefix
from herald.runtime import Runtime
from herald.store import accounts as account_store


def new_account(runtime: Runtime, *, friendly_name: str | None, is_test: bool) -> Account:
    now = runtime.clock.now_us()
    sid = runtime.new_sid(Prefix.ACCOUNT)
    return Account(
        sid=sid,
        friendly_name=friendly_name or f"Herald account {sid[-6:]}",
        auth_token=runtime.new_secret(),
        status="active",
        is_test=is_test,
        date_created=now,
        date_updated=now,
    )


def create_account(runtime: Runtime, *, friendly_name: str | None, is_test: bool) -> Account:
    account = new_account(runtime, friendly_name=friendly_name, is_test=is_test)
    return runtime.db.run(lambda conn: account_store.insert_account(conn, account))


def new_key(runtime: Runtime, account_sid: str, friendly_name: str) -> tuple[ApiKey, str]:
    """A key and its secret; only the secret's hash is ever stored."""
    now = runtime.clock.now_us()
    secret = runtime.random_bytes(24).hex()
    key = ApiKey(
        sid=runtime.new_sid(Prefix.API_KEY),
        account_sid=account_sid,
        friendly_name=friendly_name,
        secret_hash=hash_secret(secret),
        date_created=now,
        date_updated=now,
    )
    return key, secret


def rotate_token(runtime: Runtime, account_sid: str) -> Account | None:
    """A new auth token for the account, replacing every earlier one (`herald accounts
    rotate-token`); the credentials file follows when it holds this account."""
    token = runtime.new_secret()
    now = runtime.clock.now_us()
    account = runtime.db.run(
        lambda conn: account_store.replace_auth_token(conn, account_sid, token, now)
    )
    path = runtime.settings.credentials_path
    if account is not None and path.exists() and account.sid in path.read_text():
        write_credentials(path, account)
    return account


def ensure_first_account(runtime: Runtime) -> Account | None:
    """Create the first account when the database has none; return it if created."""
    if runtime.db.run(account_store.count_accounts) > 0:
        return None
    account = create_account(runtime, friendly_name="Herald", is_test=False)
    write_credentials(runtime.settings.credentials_path, account)
    return account


def write_credentials(path: Path, account: Account) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"TWILIO_ACCOUNT_SID={account.sid}\nTWILIO_AUTH_TOKEN={account.auth_token}\n")
    path.chmod(0o600)
