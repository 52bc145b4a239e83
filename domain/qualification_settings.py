"""A tenant's qualification settings: who drives the flows, how long to wait, how much to send.

They live inside the tenant's settings under ``qualification`` and change
with a partial update, like the rest of the settings.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from typing import Any

import attrs

from domain.classifier import DEFAULT_RULES, Rule, RuleSet
from domain.errors import RuleViolation
from domain.qualification import SendingWindow


class Orchestrator(enum.StrEnum):
    #: Garimpo's own workers schedule every step.
    BUILTIN = "builtin"
    #: n8n workflows call the API to run each due step.
    N8N = "n8n"


DEFAULT_REPLY_WAIT = dt.timedelta(hours=24)
DEFAULT_DAILY_LIMIT = 1000
#: The approved WhatsApp template of a first contact, named as the tenant registered it.
DEFAULT_WHATSAPP_TEMPLATE = "garimpo_apresentacao"

_KEYS = frozenset(
    {
        "orchestrator",
        "reply_wait_minutes",
        "daily_limit",
        "sending_hours",
        "sending_weekdays",
        "holidays",
        "whatsapp_template",
        "rules",
        "disabled_rules",
    }
)


def _invalid(detail: str, field: str) -> RuleViolation:
    return RuleViolation(detail, field=f"qualification.{field}", code="invalid_settings")


@attrs.frozen(kw_only=True)
class QualificationSettings:
    orchestrator: Orchestrator = Orchestrator.BUILTIN
    reply_wait: dt.timedelta = DEFAULT_REPLY_WAIT
    #: Sends per day in the tenant's timezone, over every channel.
    daily_limit: int = DEFAULT_DAILY_LIMIT
    opens: dt.time = dt.time(9, 0)
    closes: dt.time = dt.time(18, 0)
    weekdays: frozenset[int] = frozenset({1, 2, 3, 4, 5})
    holidays: frozenset[dt.date] = frozenset()
    whatsapp_template: str = DEFAULT_WHATSAPP_TEMPLATE
    #: The tenant's own classifier rules, as stored (name, outcome, phrases, regexes).
    rules: tuple[Mapping[str, Any], ...] = ()
    disabled_rules: frozenset[str] = frozenset()

    def window(self, timezone: str) -> SendingWindow:
        return SendingWindow.create(
            timezone, self.opens, self.closes, self.weekdays, sorted(self.holidays)
        )

    def rule_set(self) -> RuleSet:
        extra = [
            Rule(
                name=str(rule["name"]),
                outcome=rule["outcome"],
                phrases=tuple(rule.get("phrases", ())),
                regexes=tuple(rule.get("regexes", ())),
            )
            for rule in self.rules
        ]
        return DEFAULT_RULES.with_tenant_rules(extra, self.disabled_rules)

    def to_json(self) -> dict[str, Any]:
        return {
            "orchestrator": self.orchestrator.value,
            "reply_wait_minutes": int(self.reply_wait.total_seconds() // 60),
            "daily_limit": self.daily_limit,
            "sending_hours": {
                "start": self.opens.strftime("%H:%M"),
                "end": self.closes.strftime("%H:%M"),
            },
            "sending_weekdays": sorted(self.weekdays),
            "holidays": [day.isoformat() for day in sorted(self.holidays)],
            "whatsapp_template": self.whatsapp_template,
            "rules": [dict(rule) for rule in self.rules],
            "disabled_rules": sorted(self.disabled_rules),
        }

    def merge(self, changes: Any) -> QualificationSettings:
        """Apply a partial update, checking every field given."""
        if not isinstance(changes, dict):
            raise _invalid("As configurações de qualificação são um objeto.", "")
        unknown = sorted(set(changes) - _KEYS)
        if unknown:
            raise _invalid(
                f"Configuração de qualificação desconhecida: '{unknown[0]}'.", unknown[0]
            )

        updated = self
        if "orchestrator" in changes:
            try:
                updated = attrs.evolve(updated, orchestrator=Orchestrator(changes["orchestrator"]))
            except ValueError:
                raise _invalid(
                    "O orquestrador deve ser 'builtin' ou 'n8n'.", "orchestrator"
                ) from None
        if "reply_wait_minutes" in changes:
            minutes = _whole(changes["reply_wait_minutes"], "reply_wait_minutes", 1, 60 * 24 * 14)
            updated = attrs.evolve(updated, reply_wait=dt.timedelta(minutes=minutes))
        if "daily_limit" in changes:
            updated = attrs.evolve(
                updated, daily_limit=_whole(changes["daily_limit"], "daily_limit", 1, 1_000_000)
            )
        if "sending_hours" in changes:
            opens, closes = _hours(changes["sending_hours"])
            updated = attrs.evolve(updated, opens=opens, closes=closes)
        if "sending_weekdays" in changes:
            updated = attrs.evolve(updated, weekdays=_weekdays(changes["sending_weekdays"]))
        if "holidays" in changes:
            updated = attrs.evolve(updated, holidays=_holidays(changes["holidays"]))
        if "whatsapp_template" in changes:
            name = changes["whatsapp_template"]
            if not isinstance(name, str) or not 1 <= len(name) <= 512:
                raise _invalid(
                    "Informe o nome do modelo de WhatsApp aprovado.", "whatsapp_template"
                )
            updated = attrs.evolve(updated, whatsapp_template=name)
        if "rules" in changes:
            updated = attrs.evolve(updated, rules=_rules(changes["rules"]))
        if "disabled_rules" in changes:
            names = changes["disabled_rules"]
            if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
                raise _invalid(
                    "Informe as regras a desativar como uma lista de nomes.", "disabled_rules"
                )
            updated = attrs.evolve(updated, disabled_rules=frozenset(names))

        # The window and the rules are checked whole, as a send will use them.
        updated.window("UTC")
        updated.rule_set()
        return updated

    @classmethod
    def from_json(cls, stored: Any) -> QualificationSettings:
        return cls().merge(stored or {})


def _whole(value: Any, field: str, lowest: int, highest: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not lowest <= value <= highest:
        raise _invalid(f"'{field}' deve ser um número inteiro de {lowest} a {highest}.", field)
    return value


def _time(value: Any, field: str) -> dt.time:
    try:
        if isinstance(value, str) and len(value) == 5:
            return dt.time.fromisoformat(value)
    except ValueError:
        pass
    raise _invalid(f"Horário inválido: '{value}'. Use HH:MM.", field)


def _hours(value: Any) -> tuple[dt.time, dt.time]:
    if not isinstance(value, dict) or set(value) != {"start", "end"}:
        raise _invalid(
            'O horário de envio é um objeto {"start": "HH:MM", "end": "HH:MM"}.', "sending_hours"
        )
    return _time(value["start"], "sending_hours.start"), _time(value["end"], "sending_hours.end")


def _weekdays(value: Any) -> frozenset[int]:
    if not isinstance(value, list) or not all(
        isinstance(day, int) and not isinstance(day, bool) for day in value
    ):
        raise _invalid(
            "Os dias de envio são uma lista de 1 (segunda) a 7 (domingo).", "sending_weekdays"
        )
    return frozenset(value)


def _holidays(value: Any) -> frozenset[dt.date]:
    if not isinstance(value, list):
        raise _invalid("Os feriados são uma lista de datas AAAA-MM-DD.", "holidays")
    days: set[dt.date] = set()
    for item in value:
        try:
            days.add(dt.date.fromisoformat(item))
        except (TypeError, ValueError):
            raise _invalid(
                f"Data de feriado inválida: '{item}'. Use AAAA-MM-DD.", "holidays"
            ) from None
    return frozenset(days)


def _rules(value: Any) -> tuple[Mapping[str, Any], ...]:
    if not isinstance(value, list):
        raise _invalid("As regras são uma lista de objetos.", "rules")
    rules: list[dict[str, Any]] = []
    for item in value:
        if not isinstance(item, dict) or not {"name", "outcome"} <= set(item):
            raise _invalid(
                'Cada regra é um objeto com "name", "outcome" e "phrases" ou "regexes".', "rules"
            )
        extra = sorted(set(item) - {"name", "outcome", "phrases", "regexes"})
        if extra:
            raise _invalid(f"Campo de regra desconhecido: '{extra[0]}'.", "rules")
        for key in ("phrases", "regexes"):
            patterns = item.get(key, [])
            if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
                raise _invalid(f"'{key}' de uma regra é uma lista de textos.", "rules")
        rules.append(dict(item))
    return tuple(rules)
