"""Paying a producer directly, by bank transfer (VietQR, issue 20): the producer's account and
what a product page offers a buyer.

Only a producer officers have verified (approved) offers it, and only for a product a buyer
can buy now (``public_facts``' ``sellable``: listed, in stock, no recall in force): the same
facts that decide the rest of the page decide this.  The account is set by the producer's
owner; every change is audited and stays on the owners' dashboard as a notice until an
owner says they saw it (someone else with the password could have redirected the money).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from .. import audit, vietqr
from ..text import ascii_number
from ..models import BankAccount, Producer, Product
from ..models.base import utcnow

MAX_QUANTITY = 999  # packages in one transfer (a buyer's order, not a wholesaler's)
AUDITED = ("bank_bin", "account_number", "account_name")


def set_bank_account(session, producer: Producer, *, bank_bin: str, account_number: str, account_name: str,
                     actor=None) -> BankAccount:
    """Set (or replace) the producer's account; raises :class:`vietqr.VietQRError` naming the
    field for a bank not in NAPAS's list, an account number that is not digits, a missing
    holder name.  Audited; the owners' notice shows until acknowledged."""
    bank = vietqr.known_bank(bank_bin)
    number = vietqr.account_number(account_number)
    holder = vietqr.holder_name(account_name)
    account = producer.bank_account
    before = audit.snapshot(account, AUDITED) if account is not None else None
    if account is None:
        account = BankAccount()
        producer.bank_account = account  # (the old value is loaded above: no flush in between)
    elif (account.bank_bin, account.account_number, account.account_name) == (bank.bin, number, holder):
        return account  # nothing changed: no entry, no notice
    account.bank_bin, account.account_number, account.account_name = bank.bin, number, holder
    account.changed_at, account.changed_by_id, account.seen_at = utcnow(), getattr(actor, "id", None), None
    audit.record(session, "producer.bank_account", producer, actor=actor, before=before,
                 after=audit.snapshot(account, AUDITED),
                 summary=f"{bank.short_name} ••••{number[-4:]} ({holder})")
    return account


def remove_bank_account(session, producer: Producer, *, actor=None) -> bool:
    """Stop offering transfers; audited.  False when there was no account."""
    account = producer.bank_account
    if account is None:
        return False
    audit.record(session, "producer.bank_account_removed", producer, actor=actor,
                 before=audit.snapshot(account, AUDITED), summary="")
    producer.bank_account = None
    return True


def acknowledge(account: BankAccount, *, now: dt.datetime | None = None) -> None:
    """An owner saw the notice of the last change."""
    account.seen_at = now or utcnow()


@dataclass(frozen=True)
class Transfer:
    """What a product page shows to pay for ``quantity`` packages."""
    bank: vietqr.Bank
    account_number: str
    account_name: str
    quantity: int
    amount: int
    note: str
    payload: str


def offers_transfer(product: Product, *, sellable: bool) -> bool:
    """Whether the product page offers a transfer at all."""
    producer = product.producer
    return bool(sellable and producer.is_approved and producer.bank_account is not None)


def most_packages(stock: int) -> int:
    """The largest quantity one transfer pays for: the stock, at most ``MAX_QUANTITY``."""
    return min(stock, MAX_QUANTITY)


def quantity_from(text: str | None, *, stock: int) -> int:
    """The buyer's quantity (the product page's GET form): 1 when not given; raises
    :class:`vietqr.VietQRError` (field ``qty``) for anything but a whole number from 1 to the
    stock (and ``MAX_QUANTITY``)."""
    if text is None or text.strip() == "":
        return 1
    text = text.strip()
    if not ascii_number(text) or len(text) > 6:
        raise vietqr.VietQRError("qty", "not_a_number")
    quantity = int(text)
    if quantity < 1:
        raise vietqr.VietQRError("qty", "not_positive")
    if quantity > most_packages(stock):
        raise vietqr.VietQRError("qty", "over_stock")
    return quantity


def transfer(product: Product, quantity: int) -> Transfer:
    """The transfer for ``quantity`` packages of ``product`` at its price; raises
    :class:`vietqr.VietQRError` (field ``qty``, ``over_limit``) past NAPAS 247's limit."""
    account = product.producer.bank_account
    total = product.price_vnd * quantity
    if total > vietqr.max_amount():
        raise vietqr.VietQRError("qty", "over_limit")
    note = vietqr.transfer_note(f"OCOP{product.id} SL{quantity}")
    return Transfer(bank=vietqr.known_bank(account.bank_bin), account_number=account.account_number,
                    account_name=account.account_name, quantity=quantity, amount=total, note=note,
                    payload=vietqr.payload(account.bank_bin, account.account_number, total, note))


def amount_in_words(amount: int, language: str) -> str:
    """"Một trăm hai mươi nghìn đồng" / "One hundred and twenty thousand dong".

    num2words is loaded only when an amount is written in words (it brings every language it
    knows: ~45 ms that no worker start and no command should pay)."""
    from num2words import num2words

    words = num2words(amount, lang="vi" if language == "vi" else "en")
    return f"{words[:1].upper()}{words[1:]} {'đồng' if language == 'vi' else 'dong'}"
