"""Reply classifier: normalisation, default pt-BR rules, tenant rules and their validation."""

from __future__ import annotations

import time

import pytest

from domain.classifier import (
    CONFLICT_RULE,
    DEFAULT_RULES,
    EMPTY_RULE,
    NEGATED_YES_RULE,
    NO_MATCH_RULE,
    ReplyClassification,
    ReplyOutcome,
    Rule,
    RuleSet,
    classify,
    normalize_reply,
)
from domain.errors import RuleViolation

Q = ReplyOutcome.QUALIFIED
NI = ReplyOutcome.NOT_INTERESTED
INV = ReplyOutcome.INVALID
OUT = ReplyOutcome.OPT_OUT
REV = ReplyOutcome.REVIEW

LONG_EMAIL_YES = """Boa tarde,

Temos interesse sim. Podem me ligar amanhã depois das 14h.

Atenciosamente,
Maria Souza
Financeiro | Padaria Pão Quente Ltda
(11) 98765-4321
"""

LONG_EMAIL_NO = """Prezados, bom dia.

Agradeço o contato, mas no momento não temos interesse.

--
Carlos Henrique
Auto Peças Henrique ME
"""

QUOTED_EMAIL_YES = """Sim, pode mandar a proposta.

Em seg., 1 de dez. de 2026 às 10:00, Garimpo <contato@exemplo.com.br>
escreveu:
> Olá! Tem interesse em receber uma proposta?
> Para não receber mais mensagens, responda SAIR.
"""

OUTLOOK_EMAIL_WRONG = """Engano, aqui é um escritório de advocacia.

-----Mensagem original-----
De: Garimpo <contato@exemplo.com.br>
Assunto: Proposta
Responda PARE para sair da lista.
"""

IPHONE_NO = "Não, obrigado.\n\nEnviado do meu iPhone"

LONG_UNRELATED = (
    "Aqui é a Joana, eu cuido do caixa da loja durante a semana e o seu Antônio "
    "só vem às sextas, ele está viajando para o interior para visitar a família "
    "e volta depois do feriado, qualquer coisa fica registrado aqui no celular"
)

REPLIES = [
    # qualified: plain yes and short forms
    ("sim", Q),
    ("Sim", Q),
    ("SIM", Q),
    ("Sim!", Q),
    ("simmm", Q),
    ("Siiiim!!!", Q),
    ("simm", Q),
    ("s", Q),
    ("S", Q),
    ("ss", Q),
    ("ss pode mandar", Q),
    ("Sim sim", Q),
    ("Sim, tenho interesse", Q),
    ("tenho interesse", Q),
    ("Tenho interesse!", Q),
    ("tenho interese", Q),
    ("Tenho interessssse", Q),
    ("Temos interesse sim", Q),
    ("teria interesse sim", Q),
    ("interessado", Q),
    ("Interessada!", Q),
    ("Estou interessado, pode ligar", Q),
    ("pode ligar", Q),
    ("Pode me ligar amanhã de manhã", Q),
    ("me liga", Q),
    ("Me liga depois das 18h", Q),
    ("me chama no whats", Q),
    ("quero saber mais", Q),
    ("Gostaria de saber mais", Q),
    ("gostaria de mais informações", Q),
    ("Quero mais informacoes", Q),
    ("manda a proposta", Q),
    ("Manda a proposta por e-mail", Q),
    ("pode mandar", Q),
    ("Pode mandar sim", Q),
    ("podem enviar pro meu email", Q),
    ("manda", Q),
    ("Manda aí", Q),
    ("quero um orçamento", Q),
    ("claro", Q),
    ("Claro!", Q),
    ("com certeza", Q),
    ("Com certezaaa", Q),
    ("ctz", Q),
    ("pode ser", Q),
    ("Pode ser sim", Q),
    ("tenho sim", Q),
    ("Por que não?", Q),
    ("pq nao", Q),
    ("ok", Q),
    ("Ok!", Q),
    ("okay", Q),
    ("blz", Q),
    ("Beleza, pode mandar", Q),
    ("Fechou, pode mandar", Q),
    ("fechado", Q),
    ("👍", Q),
    ("👍🏽", Q),
    ("✅", Q),
    ("👍👍", Q),
    ("Sim 👍", Q),
    ("sim 😊", Q),
    ("Bom dia! Sim, pode ligar", Q),
    ("Oi, tudo bem? Tenho interesse sim", Q),
    ("oi td bem? pode mandar a proposta", Q),
    ("Sim, quanto custa?", Q),
    ("Tenho interesse. Como funciona?", Q),
    ("Aguardo contato", Q),
    ("quero", Q),
    ("Eu quero!", Q),
    ("pode", Q),
    ("Uhum", Q),
    ("bora", Q),
    ("Não tenho fornecedor, pode mandar", Q),
    ("estamos precisando sim", Q),
    ("sim, me liga mais tarde que agora estou ocupado", Q),
    (LONG_EMAIL_YES, Q),
    (QUOTED_EMAIL_YES, Q),
    # not_interested
    ("não", NI),
    ("Não", NI),
    ("NÃO", NI),
    ("nao", NI),
    ("Nãooo", NI),
    ("naum", NI),
    ("n", NI),
    ("N", NI),
    ("ñ", NI),
    ("nn", NI),
    ("Não não", NI),
    ("👎", NI),
    ("❌", NI),
    ("não tenho interesse", NI),
    ("Não tenho interesse", NI),
    ("NAO TENHO INTERESSE", NI),
    ("nao tenho interesse", NI),
    ("n tenho interesse", NI),
    ("ñ tenho interesse", NI),
    ("Não tenho interesse, obrigado.", NI),
    ("não tenho mais interesse", NI),
    ("Não temos interesse no momento", NI),
    ("sem interesse", NI),
    ("s/ interesse", NI),
    ("agora não", NI),
    ("Agora nao", NI),
    ("agr nao", NI),
    ("no momento não", NI),
    ("Por enquanto não, obrigado", NI),
    ("não, obrigado", NI),
    ("Não obrigada", NI),
    ("nn obg", NI),
    ("Obrigado, mas não", NI),
    ("não preciso", NI),
    ("Não precisamos, obrigado", NI),
    ("já tenho fornecedor", NI),
    ("Já temos fornecedor, obrigado", NI),
    ("ja tenho", NI),
    ("Talvez depois", NI),
    ("talvez mais pra frente", NI),
    ("Fica pra próxima", NI),
    ("sem verba esse ano", NI),
    ("não estou interessado", NI),
    ("Não me interessa", NI),
    ("não quero", NI),
    ("Não quero saber mais", NI),
    ("Não quero saber", NI),
    ("não me liga", NI),
    ("nunca", NI),
    ("Claro que não", NI),
    ("nem pensar", NI),
    ("Não 👎", NI),
    ("Dispenso", NI),
    ("Estou fora", NI),
    (LONG_EMAIL_NO, NI),
    (IPHONE_NO, NI),
    # invalid: wrong contact
    ("número errado", INV),
    ("Numero errado", INV),
    ("não é aqui", INV),
    ("Nao eh aqui", INV),
    ("não conheço essa empresa", INV),
    ("Não conheço essa empresa não", INV),
    ("engano", INV),
    ("Foi engano", INV),
    ("É engano!", INV),
    ("essa empresa fechou", INV),
    ("A empresa já fechou faz 2 anos", INV),
    ("a loja fechou", INV),
    ("Fechamos em 2022", INV),
    ("não trabalho mais aí", INV),
    ("Não trabalho mais lá faz tempo", INV),
    ("Esse número é pessoal, não é da empresa", INV),
    ("Não, número errado", INV),
    ("Número errado, não tenho interesse", INV),
    ("O dono faleceu", INV),
    ("Vendemos a empresa ano passado", INV),
    (OUTLOOK_EMAIL_WRONG, INV),
    # opt_out, also when mixed with other intents
    ("pare", OUT),
    ("PARE", OUT),
    ("Pare!", OUT),
    ("parem de mandar mensagem", OUT),
    ("para de me mandar mensagem", OUT),
    ("sair", OUT),
    ("SAIR", OUT),
    ("quero sair da lista", OUT),
    ("descadastrar", OUT),
    ("Me descadastra por favor", OUT),
    ("não quero receber", OUT),
    ("Não quero receber mais mensagens", OUT),
    ("remover meu número", OUT),
    ("remove", OUT),
    ("stop", OUT),
    ("STOP", OUT),
    ("parar de enviar", OUT),
    ("me tira da lista", OUT),
    ("Me tire dessa lista", OUT),
    ("não me mande mais mensagens", OUT),
    ("Nao me mandem mais nada", OUT),
    ("não me liga mais", OUT),
    ("não tenho interesse, pare de mandar", OUT),
    ("Não tenho interesse. Parem de me mandar mensagem!", OUT),
    ("sim, pode parar", OUT),
    ("Número errado, me tira da lista", OUT),
    ("isso é spam", OUT),
    ("Vou bloquear", OUT),
    ("Cancelar", OUT),
    ("Tenho interesse, mas pelo email. Pare de mandar no whatsapp", OUT),
    # review: questions
    ("quem é?", REV),
    ("Quem é?", REV),
    ("quem e", REV),
    ("Quem fala?", REV),
    ("do que se trata?", REV),
    ("Do que se trata", REV),
    ("quanto custa?", REV),
    ("Quanto custa", REV),
    ("qual o valor?", REV),
    ("como funciona?", REV),
    ("?", REV),
    ("??", REV),
    ("Que empresa?", REV),
    ("Como conseguiu meu número?", REV),
    ("oq é isso?", REV),
    ("Sim?", REV),
    ("Pois não?", REV),
    # review: greetings, thanks, busy, empty, emoji only
    ("bom dia", REV),
    ("Bom diaaa", REV),
    ("oi", REV),
    ("Oi", REV),
    ("Olá", REV),
    ("boa tarde!", REV),
    ("oi td bem", REV),
    ("Oi, tudo certo?", REV),
    ("obrigado", REV),
    ("Obg", REV),
    ("valeu", REV),
    ("Estou ocupado agora", REV),
    ("Estou dirigindo", REV),
    ("", REV),
    ("   ", REV),
    ("😊", REV),
    ("🙏", REV),
    ("👍👎", REV),
    ("kkkkk", REV),
    ("...", REV),
    # review: undecided, conflicting or unrelated
    ("talvez", REV),
    ("Vou pensar", REV),
    ("não sei", REV),
    ("Não sei se tenho interesse", REV),
    ("Depende do valor", REV),
    ("Vou falar com meu sócio", REV),
    ("Não sou o responsável", REV),
    ("Ok, obrigado", REV),
    ("ok obg", REV),
    ("sim e não", REV),
    ("Não, pode ligar sim", REV),
    ("Agora não, me liga semana que vem", REV),
    ("Engano, mas pode mandar pro meu email", REV),
    ("Não entendi", REV),
    (LONG_UNRELATED, REV),
]


def test_reply_table_is_large_enough() -> None:
    assert len(REPLIES) >= 150


@pytest.mark.parametrize(("reply", "expected"), REPLIES)
def test_classify_reply(reply: str, expected: ReplyOutcome) -> None:
    result = classify(reply)

    assert result.outcome is expected, f"{reply!r} -> {result.rule} on {result.text!r}"


# --- Normalisation ---


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("NÃO", "nao"),
        ("Não!!!", "nao"),
        ("nãooo", "nao"),
        ("naaaao", "nao"),
        ("Simmm", "sim"),
        ("ñ", "nao"),
        ("  Tenho   interesse\n\tsim  ", "tenho interesse sim"),
        ("vc pode me ligar?", "voce pode me ligar ?"),
        ("pq nao", "porque nao"),
        ("blz", "beleza"),
        ("td bem", "tudo bem"),
        ("obg", "obrigado"),
        ("s/ interesse", "sem interesse"),
        ("Ação, Promoção; Orçamento.", "acao promocao orcamento"),
        ("Quem é??", "quem e ?"),
        ("sim 😊🙏", "sim"),
        ("kkkk sim rsrs", "sim"),
        ("👍", "joinha"),
        ("👍🏽", "joinha"),
        ("👎", "nao"),
        ("😊", ""),
        ("", ""),
        ("e-mail", "email"),
        ("s", "sim"),
        ("s pode", "s pode"),
        ("interesse", "interesse"),
    ],
)
def test_normalize_reply(raw: str, expected: str) -> None:
    assert normalize_reply(raw) == expected


def test_normalize_cuts_quoted_email() -> None:
    text = normalize_reply(QUOTED_EMAIL_YES)

    assert text == "sim pode mandar a proposta"


def test_normalize_cuts_signature_delimiter() -> None:
    text = normalize_reply("Pode ligar\n-- \nJoão | Bar do João")

    assert text == "pode ligar"


def test_classification_carries_normalised_text() -> None:
    result = classify("  NÃO,   obrigado!! ")

    assert isinstance(result, ReplyClassification)
    assert result.text == "nao obrigado"


def test_classification_is_frozen() -> None:
    result = classify("sim")

    with pytest.raises(AttributeError):
        result.outcome = NI  # type: ignore[misc]


# --- Rule names reported ---


@pytest.mark.parametrize(
    ("reply", "rule"),
    [
        ("sim", "yes"),
        ("tenho interesse", "interested"),
        ("pode ligar", "call_me"),
        ("manda a proposta", "send_proposal"),
        ("ok", "affirmative_short"),
        ("👍", "affirmative_short"),
        ("não tenho interesse", "not_interested"),
        ("agora não", "not_now"),
        ("não", "no"),
        ("número errado", "wrong_contact"),
        ("não tenho interesse, pare de mandar", "opt_out"),
        ("talvez", "undecided"),
        ("quanto custa?", "question"),
        ("bom dia", "greeting"),
        ("obrigado", "thanks"),
        ("estou ocupado", "busy"),
        ("sim e não", CONFLICT_RULE),
        ("não me liga", "no"),
        ("não pode ligar", "no"),
        ("", EMPTY_RULE),
        ("😊", EMPTY_RULE),
        ("xyz abc", NO_MATCH_RULE),
    ],
)
def test_rule_reported(reply: str, rule: str) -> None:
    assert classify(reply).rule == rule


def test_never_negates_yes_phrase() -> None:
    result = classify("nunca me liga")

    assert result.outcome is NI
    assert result.rule in ("no", NEGATED_YES_RULE)


def test_negated_yes_rule_alone() -> None:
    rules = DEFAULT_RULES.with_tenant_rules(disabled_rule_names=["no"])

    result = classify("jamais pode ligar", rules)

    assert result.outcome is NI
    assert result.rule == NEGATED_YES_RULE


# --- Tenant rules ---


def test_tenant_rule_turns_price_question_qualified() -> None:
    rules = DEFAULT_RULES.with_tenant_rules(
        [Rule("price_question", Q, phrases=["quanto custa", "qual o valor"])]
    )

    result = classify("Quanto custa?", rules)

    assert result.outcome is Q
    assert result.rule == "price_question"
    assert classify("Quanto custa?").outcome is REV


def test_tenant_disables_affirmative_short() -> None:
    rules = DEFAULT_RULES.with_tenant_rules(disabled_rule_names=["affirmative_short"])

    assert classify("ok", rules).outcome is REV
    assert classify("👍", rules).outcome is REV
    assert classify("sim", rules).outcome is Q
    assert "affirmative_short" not in rules.rule_names()
    assert "affirmative_short" in DEFAULT_RULES.rule_names()


def test_tenant_rule_replaces_default_in_place() -> None:
    replacement = Rule("not_now", REV, phrases=["agora não", "talvez depois"])

    rules = DEFAULT_RULES.with_tenant_rules([replacement])

    assert rules.rule_names() == DEFAULT_RULES.rule_names()
    assert classify("talvez depois", rules).outcome is REV
    assert classify("talvez depois", rules).rule == "not_now"


def test_tenant_rule_comes_first() -> None:
    rules = DEFAULT_RULES.with_tenant_rules([Rule("proposal_yes", Q, phrases=["sim"])])

    assert rules.rule_names()[0] == "proposal_yes"
    assert classify("sim", rules).rule == "proposal_yes"


def test_tenant_regex_rule() -> None:
    rules = DEFAULT_RULES.with_tenant_rules(
        [Rule("visit", Q, regexes=[r"\bpode (vir|passar) aqui\b"])]
    )

    assert classify("Pode vir aqui na loja amanhã", rules).rule == "visit"


def test_tenant_phrase_is_normalised() -> None:
    rules = DEFAULT_RULES.with_tenant_rules(
        [Rule("wants_demo", Q, phrases=["QUERO UMA DEMONSTRAÇÃO!"])]
    )

    assert classify("quero uma demonstracao", rules).rule == "wants_demo"
    assert classify("Quero uma demonstraçããão", rules).rule == "wants_demo"


def test_tenant_opt_out_still_wins() -> None:
    rules = DEFAULT_RULES.with_tenant_rules([Rule("loves_it", Q, phrases=["adorei"])])

    assert classify("adorei, mas pare de mandar", rules).outcome is OUT


def test_tenant_fallback_rule() -> None:
    rules = DEFAULT_RULES.with_tenant_rules(
        [Rule("signature_only", NI, phrases=["atenciosamente"], fallback=True)]
    )

    assert classify("Atenciosamente", rules).outcome is NI
    assert classify("Sim. Atenciosamente", rules).outcome is Q


def test_outcome_accepts_string() -> None:
    rule = Rule("custom", "qualified", phrases=["bora fechar"])

    assert rule.outcome is Q


def test_default_rules_unchanged_by_override() -> None:
    before = DEFAULT_RULES.rule_names()

    DEFAULT_RULES.with_tenant_rules([Rule("extra", Q, phrases=["x1"])], ["yes"])

    assert DEFAULT_RULES.rule_names() == before


# --- Validation ---


def violation_code(call: object, *args: object, **kwargs: object) -> str:
    with pytest.raises(RuleViolation) as raised:
        call(*args, **kwargs)  # type: ignore[operator]
    assert raised.value.detail
    return raised.value.code


def test_rule_without_patterns_rejected() -> None:
    assert violation_code(Rule, "empty", Q) == "empty_rule_patterns"


def test_rule_with_blank_phrase_rejected() -> None:
    assert violation_code(Rule, "blank", Q, phrases=["  !! "]) == "empty_rule_pattern"


def test_rule_unknown_outcome_rejected() -> None:
    assert violation_code(Rule, "odd", "maybe", phrases=["x"]) == "invalid_rule_outcome"


def test_rule_no_answer_outcome_rejected() -> None:
    assert violation_code(Rule, "timer", "no_answer", phrases=["x"]) == "invalid_rule_outcome"


def test_rule_invalid_regex_rejected() -> None:
    assert violation_code(Rule, "broken", Q, regexes=["(sim"]) == "invalid_rule_regex"


def test_rule_regex_matching_empty_rejected() -> None:
    assert violation_code(Rule, "always", Q, regexes=["a*"]) == "invalid_rule_regex"


def test_rule_bad_name_rejected() -> None:
    assert violation_code(Rule, "Minha Regra", Q, phrases=["x"]) == "invalid_rule_name"
    assert violation_code(Rule, "", Q, phrases=["x"]) == "invalid_rule_name"


def test_rule_pattern_too_long_rejected() -> None:
    assert violation_code(Rule, "long", Q, phrases=["a" * 201]) == "rule_pattern_too_long"


def test_rule_detail_in_portuguese() -> None:
    with pytest.raises(RuleViolation) as raised:
        Rule("broken", Q, regexes=["(sim"])

    assert "Expressão regular inválida" in raised.value.detail
    assert raised.value.field == "regexes"


def test_duplicate_rule_names_rejected() -> None:
    rule = Rule("twice", Q, phrases=["x"])

    assert violation_code(RuleSet, (rule, rule)) == "duplicate_rule_name"
    assert violation_code(DEFAULT_RULES.with_tenant_rules, [rule, rule]) == "duplicate_rule_name"


def test_disable_unknown_rule_rejected() -> None:
    code = violation_code(DEFAULT_RULES.with_tenant_rules, [], ["does_not_exist"])

    assert code == "unknown_rule_name"


def test_reserved_rule_name_rejected() -> None:
    code = violation_code(DEFAULT_RULES.with_tenant_rules, [Rule(CONFLICT_RULE, Q, phrases=["x"])])

    assert code == "reserved_rule_name"


def test_too_many_tenant_rules_rejected() -> None:
    rules = [Rule(f"rule_{index}", Q, phrases=[f"palavra{index}"]) for index in range(101)]

    assert violation_code(DEFAULT_RULES.with_tenant_rules, rules) == "too_many_rules"


# --- Speed ---


def test_classify_is_fast() -> None:
    replies = [reply for reply, _ in REPLIES] * 20

    started = time.perf_counter()
    for reply in replies:
        classify(reply)
    elapsed = time.perf_counter() - started

    # A generous bound: it fails only if matching stops being precompiled or
    # turns quadratic, not on a slow CI machine.
    assert elapsed / len(replies) < 0.005


def test_long_reply_is_capped() -> None:
    result = classify("sim " + "bla " * 5000)

    assert result.outcome is Q
    assert len(result.text) <= 4000
