"""Every text an alert or the digest says, in pt-BR (default) and English (``LOCALE=en``).

Texts are templates filled with already-formatted values: money, days and times go through
ops/i18n.py, so people read ``R$ 1.234,56`` and ``29/11/2026 07:00`` (São Paulo time) here as in
the console. Nothing from a request body ever reaches a template; ``render`` masks the result
once more (ops/logconfig.mask_text) so a secret or a full CPF/CNPJ cannot slip through.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from ops import i18n
from ops.logconfig import mask_text

#: ``{locale: {message id: template}}``; ids are ``<condition>.<what>`` or shared words.
TEXTS: dict[str, dict[str, str]] = {
    "pt_BR": {
        "kind.fired": "[ALERTA] {title}",
        "kind.repeat": "[ALERTA, continua] {title}",
        "kind.resolved": "[RESOLVIDO] {title}",
        "kind.notice": "[AVISO] {title}",
        "kind.digest": "[Resumo diário] {title}",
        "kind.test": "[TESTE] {title}",
        "repeat.note": "Continua desde {opened} ({duration}).",
        "refusals.title": "{provider}: {count} entregas recusadas em 10 min",
        "refusals.body": (
            "{count} entregas de {provider} foram recusadas nos últimos 10 minutos ({reasons}).\n"
            "Verifique o segredo de {provider} ({variable}): o valor configurado aqui deve ser o mesmo do "
            "painel do provedor. Enquanto isso, o provedor recebe 401/498 e pode desistir de reenviar."
        ),
        "refusals.resolved_title": "{provider}: entregas aceitas de novo",
        "refusals.resolved": "Entregas de {provider} aceitas de novo (alerta aberto em {opened}, durou {duration}).",
        "reason.bad_signature": "assinatura inválida",
        "reason.stale_timestamp": "horário fora da janela",
        "reason.wrong_credentials": "credenciais Basic erradas",
        "reason.missing": "sem assinatura ou credenciais",
        "silence.title": "{provider} sem eventos há {duration} em horário comercial",
        "silence.body": (
            "Nenhum evento aceito de {provider} há {duration} em horário comercial (seg-sex 08:00-20:00). "
            "Último evento aceito em {last}.\nVerifique no painel do provedor se os webhooks estão ativos "
            "e apontam para este serviço."
        ),
        "silence.resolved_title": "{provider} voltou a enviar eventos",
        "silence.resolved": "{provider} voltou a enviar eventos (alerta aberto em {opened}, durou {duration}).",
        "failed_events.title": "{count} evento(s) novo(s) com falha ou em quarentena",
        "failed_events.body": "Eventos novos com falha ou em quarentena desde a última verificação:\n{lines}",
        "failed_events.line": "- #{id} {provider} {code}: {status}",
        "failed_events.more": "- e mais {count}",
        "failed_events.hint": "Veja com: flask events list --status failed (ou quarantined).",
        "status.failed": "falhou",
        "status.quarantined": "quarentena",
        "backlog.title": "fila atrasada: evento mais antigo espera há {age}",
        "backlog.body": (
            "O evento mais antigo na fila de entrada espera há {age} (limite {limit}); {depth} evento(s) na fila.\n"
            "Verifique se os workers estão rodando (python -m workers) e se o banco responde."
        ),
        "backlog.resolved_title": "fila de entrada em dia",
        "backlog.resolved": "A fila de entrada voltou ao normal (alerta aberto em {opened}, durou {duration}).",
        "sync_failing.title": "sincronização com {provider} falhando",
        "sync_failing.body": "A sincronização com {provider} falha desde {since}: {error}",
        "sync_failing.resolved_title": "sincronização com {provider} voltou a funcionar",
        "sync_failing.resolved": (
            "A sincronização com {provider} voltou a funcionar (alerta aberto em {opened}, durou {duration})."
        ),
        "digest.title": "webhooks de {day}",
        "digest.totals": "Totais por provedor e tipo (objetos abertos em {day}):",
        "digest.total_line": "- {provider} {kind}: {count}, esperado {expected}, liquidado {settled}",
        "digest.no_totals": "- nenhum movimento",
        "digest.discrepancies": "Divergências novas em {day}: {new}. Ainda abertas de dias anteriores: {open}.",
        "digest.by_type": "- {type}: {new} nova(s), {open} ainda aberta(s)",
        "digest.events": "Eventos recebidos em {day}: {failed} com falha, {quarantined} em quarentena.",
        "digest.attachment": (
            "Relatório do dia em CSV: anexo ao e-mail, ou "
            "flask reconcile report --from {date} --to {date} --format csv."
        ),
        "digest.link": "Console: {url}",
        "test.title": "mensagem de teste",
        "test.body": (
            "Mensagem de teste dos alertas de webhooks, enviada em {moment}. Se você a recebeu, o canal funciona."
        ),
    },
    "en": {
        "kind.fired": "[ALERT] {title}",
        "kind.repeat": "[ALERT, ongoing] {title}",
        "kind.resolved": "[RESOLVED] {title}",
        "kind.notice": "[NOTICE] {title}",
        "kind.digest": "[Daily digest] {title}",
        "kind.test": "[TEST] {title}",
        "repeat.note": "Ongoing since {opened} ({duration}).",
        "refusals.title": "{provider}: {count} refused deliveries in 10 min",
        "refusals.body": (
            "{count} deliveries from {provider} were refused in the last 10 minutes ({reasons}).\n"
            "Check {provider}'s secret ({variable}): the value configured here must match the provider's "
            "dashboard. Meanwhile the provider gets 401/498 and may give up retrying."
        ),
        "refusals.resolved_title": "{provider}: deliveries accepted again",
        "refusals.resolved": "Deliveries from {provider} accepted again (alert opened {opened}, lasted {duration}).",
        "reason.bad_signature": "bad signature",
        "reason.stale_timestamp": "stale timestamp",
        "reason.wrong_credentials": "wrong Basic credentials",
        "reason.missing": "no signature or credentials",
        "silence.title": "no events from {provider} for {duration} of business hours",
        "silence.body": (
            "No accepted event from {provider} for {duration} of business hours (Mon-Fri 08:00-20:00). "
            "Last accepted event at {last}.\nCheck in the provider's dashboard that webhooks are active "
            "and point at this service."
        ),
        "silence.resolved_title": "{provider} sends events again",
        "silence.resolved": "{provider} sends events again (alert opened {opened}, lasted {duration}).",
        "failed_events.title": "{count} new failed or quarantined event(s)",
        "failed_events.body": "New failed or quarantined events since the last check:\n{lines}",
        "failed_events.line": "- #{id} {provider} {code}: {status}",
        "failed_events.more": "- and {count} more",
        "failed_events.hint": "See them with: flask events list --status failed (or quarantined).",
        "status.failed": "failed",
        "status.quarantined": "quarantined",
        "backlog.title": "inbox backlog: oldest event waiting for {age}",
        "backlog.body": (
            "The oldest event in the inbox has waited {age} (limit {limit}); {depth} event(s) waiting.\n"
            "Check that workers run (python -m workers) and that the database answers."
        ),
        "backlog.resolved_title": "inbox caught up",
        "backlog.resolved": "The inbox is back to normal (alert opened {opened}, lasted {duration}).",
        "sync_failing.title": "sync with {provider} failing",
        "sync_failing.body": "Sync with {provider} has failed since {since}: {error}",
        "sync_failing.resolved_title": "sync with {provider} works again",
        "sync_failing.resolved": "Sync with {provider} works again (alert opened {opened}, lasted {duration}).",
        "digest.title": "webhooks on {day}",
        "digest.totals": "Totals per provider and kind (objects opened on {day}):",
        "digest.total_line": "- {provider} {kind}: {count}, expected {expected}, settled {settled}",
        "digest.no_totals": "- no movement",
        "digest.discrepancies": "New discrepancies on {day}: {new}. Still open from earlier days: {open}.",
        "digest.by_type": "- {type}: {new} new, {open} still open",
        "digest.events": "Events received on {day}: {failed} failed, {quarantined} quarantined.",
        "digest.attachment": (
            "The day's CSV report: attached to the e-mail, or "
            "flask reconcile report --from {date} --to {date} --format csv."
        ),
        "digest.link": "Console: {url}",
        "test.title": "test message",
        "test.body": "Test message from the webhook alerts, sent at {moment}. If you got it, the channel works.",
    },
}


def render(locale: str, message_id: str, **fields: object) -> str:
    """The template ``message_id`` in ``locale`` filled with ``fields``, masked."""
    texts = TEXTS.get(locale, TEXTS[i18n.DEFAULT_LOCALE])
    return mask_text(texts[message_id].format(**fields))


def subject(locale: str, kind: str, title: str) -> str:
    return render(locale, f"kind.{kind}", title=title)


def duration(span: timedelta) -> str:
    """``2 h 05 min`` or ``45 min`` (``45 s`` under a minute): the same in both languages."""
    seconds = int(span.total_seconds())
    if seconds < 60:
        return f"{seconds} s"
    hours, minutes = divmod(seconds // 60, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


def when(locale: str, value: datetime) -> str:
    return i18n.moment(value, locale)


def counted(locale: str, counts: Mapping[str, int]) -> str:
    """``assinatura inválida: 12, sem assinatura ou credenciais: 1`` (largest first)."""
    texts = TEXTS.get(locale, TEXTS[i18n.DEFAULT_LOCALE])
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return ", ".join(f"{texts.get(f'reason.{reason}', reason)}: {count}" for reason, count in ordered)
