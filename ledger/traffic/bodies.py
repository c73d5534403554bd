"""Provider bodies built from the documented samples (copied here from providers.md §1-3).

Each builder deep-copies a documented payload and changes only what identifies the object
and the money, so generated traffic has every field a real notification has. Amounts stay
``Decimal`` and are written as JSON numbers by ``dumps`` (no float on the way out either).
"""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

TEMPLATES = Path(__file__).resolve().parent / "templates"
BRT = timezone(timedelta(hours=-3))
_MARK = re.compile(r'"@@dec:(-?[0-9.]+)@@"')


@cache
def _template(name: str) -> str:
    return (TEMPLATES / name).read_text(encoding="utf-8")


def template(name: str) -> dict[str, Any]:
    template: dict[str, Any] = json.loads(_template(name), parse_float=Decimal)
    return template


def dumps(body: dict[str, Any]) -> bytes:
    """Compact JSON as providers send it, with Decimal amounts written as plain JSON numbers."""

    def mark(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: mark(v) for k, v in value.items()}
        if isinstance(value, list):
            return [mark(v) for v in value]
        if isinstance(value, Decimal):
            return f"@@dec:{value}@@"
        return value

    text = json.dumps(mark(body), separators=(",", ":"), ensure_ascii=False)
    return _MARK.sub(r"\1", text).encode()


def kobana_time(moment: datetime) -> str:
    return moment.astimezone(BRT).replace(microsecond=0).isoformat()


def utc_ms(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def celcoin_time(moment: datetime, style: int) -> str:
    """Celcoin writes both ``...29.5587634`` (7 digits, no offset, UTC) and ``...31.233+00:00``."""
    utc = moment.astimezone(UTC)
    if style % 2:
        return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond:06d}4"
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+00:00"


def boleto(
    event_code: str,
    *,
    ident: int,
    uid: str,
    amount: Decimal,
    status: str,
    created: datetime,
    updated: datetime,
    due: date,
    external_id: str,
    control_number: str,
    customer: str,
    payments: list[tuple[int, Decimal, date]] = (),  # type: ignore[assignment]
    fine: Decimal | None = None,
    interest: Decimal | None = None,
) -> dict[str, Any]:
    body = template("bank_billet.paid.json")
    obj = body["object"]
    paid = sum((p[1] for p in payments), Decimal("0.00"))
    obj.update(
        id=ident,
        uid=uid,
        url_hash=uid,
        amount=amount,
        status=status,
        expire_at=due.isoformat(),
        created_at=kobana_time(created),
        issued_at=kobana_time(created),
        updated_at=kobana_time(updated),
        document_date=created.astimezone(BRT).date().isoformat(),
        external_id=external_id,
        control_number=control_number,
        customer_person_name=customer,
        paid_amount=paid,
        paid_at=payments[-1][2].isoformat() if payments else None,
        payment_count=len(payments),
        fine_value=fine,
        interest_value=interest,
        our_number=str(ident)[-6:],
        pix_txid=uid.lower() + "0" * 12,
    )
    template_payment = obj["bank_billet_payments"][0]
    obj["bank_billet_payments"] = [
        {**copy.deepcopy(template_payment), "id": pid, "bank_billet_id": ident, "paid_amount": value,
         "paid_at": when.isoformat(), "credit_at": (when + timedelta(days=1)).isoformat()}
        for pid, value, when in payments
    ]  # fmt: skip
    if not payments:
        obj["bank_billet_discharges"] = []
    else:
        for item in obj["bank_billet_discharges"]:
            item["bank_billet_id"] = ident
    for item in obj["bank_billet_remittances"] + obj["bank_billet_registrations"]:
        item["bank_billet_id"] = ident
    body["event_code"] = event_code
    body["webhook"]["first_try"] = kobana_time(updated)
    body["changes"] = {"status": ["opened", status], "paid_amount_cents": [None, int(paid * 100)]} if payments else {}
    if status == "canceled":
        body["changes"] = {"status": ["opened", "canceled"]}
    return body


def pix_paid(
    *, ident: int, uid: str, txid: str, amount: Decimal, paid: Decimal, e2e: str, created: datetime, paid_at: datetime
) -> dict[str, Any]:
    body = template("pix.paid.json")
    obj = body["object"]
    obj.update(
        id=ident,
        uid=uid,
        txid=txid,
        amount=amount,
        paid_amount=paid,
        end_to_end_id=e2e,
        created_at=kobana_time(created),
        registered_at=kobana_time(created + timedelta(seconds=1)),
        expire_at=kobana_time(created + timedelta(days=1)),
        updated_at=kobana_time(paid_at + timedelta(seconds=1)),
        paid_at=kobana_time(paid_at),
    )
    body["changes"] = {
        "status": ["opened", "paid"],
        "paid_at": [None, kobana_time(paid_at)],
        "end_to_end_id": [None, e2e],
    }
    body["webhook"]["first_try"] = kobana_time(paid_at + timedelta(seconds=1))
    return body


def pix_command(
    operation: str, *, command_id: int, uid: str, txid: str, amount: Decimal, status: str, at: datetime
) -> dict[str, Any]:
    body = template("pix.register.confirmed.json")
    obj = body["object"]
    obj.update(id=command_id, uid=f"cmd-{command_id}", operation=operation, resource_uid=uid)
    obj.update(created_at=kobana_time(at - timedelta(seconds=30)), updated_at=kobana_time(at))
    obj["pix"].update(uid=uid, txid=txid, amount=amount, status=status)
    body["event_code"] = f"pix.{operation}.confirmed"
    body["webhook"]["first_try"] = kobana_time(at)
    return body


def transfeera(obj: str, *, event_id: str, at: datetime, data: dict[str, Any]) -> dict[str, Any]:
    body = template(f"{obj}.json")
    body.update(id=event_id, date=utc_ms(at))
    body["data"].update(data)
    return body


def celcoin(entity: str, *, at: datetime, status: str, style: int, body: dict[str, Any]) -> dict[str, Any]:
    out = template(f"{entity}.json")
    out.update(createTimestamp=celcoin_time(at, style), status=status)
    out["body"].update(body)
    return out
