"""Classification of a company's reply to a qualification message.

The reply is normalised first. Quoted e-mail history and signatures are
cut, and case and accents are folded. Punctuation and emoji become spaces,
except ``?``, which stays as its own token. Stretched letters ("simmm",
"nãooo") shrink to one, and chat short forms ("vc", "pq", "blz", "ñ", "nn")
are spelled out. Rules then match phrases on word boundaries, or regexes,
against that text.

How matches become one outcome:

* Any opt-out match wins, because a contact who asks to stop must never be
  messaged again, whatever else the reply says.
* A match that lies inside a longer match of another rule is dropped, so
  "não tenho interesse" does not also count as "tenho interesse", and
  "pois não" does not count as "não".
* A yes phrase with "não", "nem", "nunca" or "jamais" up to two words before
  it counts as a no ("não quero saber mais", "não me liga").
* A wrong contact (invalid) beats a plain no, because both release the
  credit and only invalid tells the system that the phone or e-mail is bad.
* Yes together with no or wrong contact is a conflict, and yes together with
  an undecided phrase ("talvez", "vou pensar") is undecided: both go to review.
* Fallback rules (greetings, thanks, questions, "estou ocupado") decide only
  when no other rule matched, so "Bom dia, pode mandar" is qualified and
  "Bom dia" alone goes to review. A reply that matches nothing goes to review.

Decisions on ambiguous replies. Apart from the emoji reading, they live in
``DEFAULT_RULES``, so a tenant can change them:

* A lone 👍, 👌 or ✅ reads as "joinha", and a lone 👎, ❌ or 🚫 reads as
  "não". Emoji next to words are ignored, because there they decorate the
  text. Other emoji-only replies go to review.
* "ok", "blz", "certo", "fechado" and 👍 are a yes (rule ``affirmative_short``)
  on the assumption that the outreach message asks a yes/no question. "ok, obrigado" is a
  polite close, not an answer, so it goes to review. A tenant who wants
  review for all of them disables ``affirmative_short``.
* "talvez depois", "agora não" and "mais pra frente" are not_interested: the
  contact declines now, and a human reviewer could not decide anything else.
  "talvez" alone, "vou pensar" and "não sei" go to review.
* "quanto custa?" and other questions go to review. Qualified captures the
  tenant's credit, and a question is not yet a request to be contacted. A
  request for a quote ("quero um orçamento") is qualified.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Iterable, Sequence

import attrs

from domain.errors import RuleViolation


class ReplyOutcome(enum.StrEnum):
    """Result of classifying a reply.

    The values match ``domain.leads.Classification`` except ``review``, which
    sends the reply to a person, and ``no_answer``, which a timer decides.
    """

    QUALIFIED = "qualified"
    NOT_INTERESTED = "not_interested"
    INVALID = "invalid"
    OPT_OUT = "opt_out"
    REVIEW = "review"


#: Rule names that the classifier reports without a rule of its own.
EMPTY_RULE = "empty"
NO_MATCH_RULE = "no_match"
CONFLICT_RULE = "conflict"
NEGATED_YES_RULE = "negated_yes"
RESERVED_RULE_NAMES = frozenset({EMPTY_RULE, NO_MATCH_RULE, CONFLICT_RULE, NEGATED_YES_RULE})

MAX_RULE_NAME_LENGTH = 60
MAX_PATTERN_LENGTH = 200
MAX_PATTERNS_PER_RULE = 200
MAX_TENANT_RULES = 100
#: Characters of the normalised reply that rules see. Longer replies are
#: e-mails, whose intent is usually at the top, and the cap bounds regex work.
MAX_ANALYSED_LENGTH = 4000

#: Words up to this many tokens before a yes phrase that turn it into a no.
NEGATION_WINDOW = 2
NEGATORS = frozenset({"nao", "nem", "nunca", "jamais"})

_RULE_NAME = re.compile(r"[a-z][a-z0-9_]*")


# --- Normalisation -------------------------------------------------------

POSITIVE_EMOJI = frozenset({"👍", "👌", "✅", "✔", "🆗"})
NEGATIVE_EMOJI = frozenset({"👎", "❌", "🚫", "✖"})

#: Chat short forms and common misspellings, spelled out token by token.
SHORT_FORMS: dict[str, str] = {
    "n": "nao",
    "nn": "nao",
    "naum": "nao",
    "nau": "nao",
    "ss": "sim",
    "vc": "voce",
    "vcs": "voces",
    "pq": "porque",
    "q": "que",
    "oq": "o que",
    "oque": "o que",
    "blz": "beleza",
    "td": "tudo",
    "tds": "todos",
    "tb": "tambem",
    "tbm": "tambem",
    "obg": "obrigado",
    "obgd": "obrigado",
    "obgdo": "obrigado",
    "obgda": "obrigada",
    "brigado": "obrigado",
    "brigada": "obrigada",
    "vlw": "valeu",
    "ctz": "certeza",
    "cmg": "comigo",
    "msg": "mensagem",
    "msgs": "mensagens",
    "hj": "hoje",
    "dps": "depois",
    "agr": "agora",
    "mt": "muito",
    "mto": "muito",
    "nd": "nada",
    "qnd": "quando",
    "qto": "quanto",
    "qnto": "quanto",
    "qt": "quanto",
    "pfv": "por favor",
    "pfvr": "por favor",
    "pf": "por favor",
    "to": "estou",
    "eh": "e",
    "okay": "ok",
    "okey": "ok",
    "oks": "ok",
    "okk": "ok",
    "wpp": "whatsapp",
    "zap": "whatsapp",
    "whats": "whatsapp",
}

# Quoted history and signatures of e-mail replies: everything from the first
# of these lines on is someone else's text or boilerplate.
_QUOTE_START = re.compile(
    r"^[ \t]*>"
    r"|^[ \t]*(em|on)\b[^\n]*(\n[^\n]*)?\b(escreveu|wrote)[ \t]*:"
    r"|^[ \t]*-{2,}[ \t]*(mensagem original|original message|mensagem encaminhada)"
    r"|^[ \t]*(de|from)[ \t]*:[^\n]*@"
    r"|^[ \t]*--[ \t]*$"
    r"|^[ \t]*(enviado do meu|enviado de meu|sent from my)\b",
    re.IGNORECASE | re.MULTILINE,
)
_ABBREVIATED_PREPOSITION = re.compile(r"(?<![\w/])([scp])/(?=\s*\w)", re.IGNORECASE)
_PREPOSITIONS = {"s": "sem ", "c": "com ", "p": "para "}
_STRETCHED_LETTER = re.compile(r"([a-z])\1{2,}")
_LAUGHTER = re.compile(r"k+|(rs)+|(h[aeiu]){2,}h?")


def _cut_quoted_text(text: str) -> str:
    match = _QUOTE_START.search(text)
    return text if match is None else text[: match.start()]


def _read_emoji_only(text: str) -> str:
    """Read a reply without letters or digits: a question, a clear emoji, or nothing."""
    if "?" in text:
        return "?"

    emoji = {char for char in text if not char.isspace()}
    emoji = {char for char in emoji if unicodedata.category(char) not in ("Mn", "Sk", "Cf")}
    if emoji and emoji <= POSITIVE_EMOJI:
        return "joinha"
    if emoji and emoji <= NEGATIVE_EMOJI:
        return "nao"
    return ""


def _fold(text: str) -> str:
    """Lower-case, drop accents, keep ``?`` and turn other symbols into spaces."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    characters: list[str] = []
    for char in decomposed:
        if unicodedata.category(char) == "Mn":
            continue
        if char.isalnum():
            characters.append(char)
        elif char == "?":
            characters.append(" ? ")
        else:
            characters.append(" ")
    return "".join(characters)


def _expand_tokens(text: str) -> list[str]:
    tokens: list[str] = []
    for token in _STRETCHED_LETTER.sub(r"\1", text).split():
        if _LAUGHTER.fullmatch(token):
            continue
        tokens.extend(SHORT_FORMS.get(token, token).split())

    # A lone "s" means yes. Inside a sentence it is too ambiguous to expand.
    if tokens == ["s"]:
        return ["sim"]

    # "??" carries no more meaning than "?".
    collapsed: list[str] = []
    for token in tokens:
        if token == "?" and collapsed and collapsed[-1] == "?":
            continue
        collapsed.append(token)
    return collapsed


def normalize_reply(text: str) -> str:
    """Reduce a reply to the lower-case, accent-free, single-spaced text that rules match.

    The result contains letters, digits, ``?`` tokens and single spaces only.
    Stretched letters ("simmm") shrink to one, so a doubled letter ("simm")
    survives here and phrase patterns tolerate it.
    """
    text = _cut_quoted_text(text)

    if not any(char.isalnum() for char in text):
        return _read_emoji_only(text)

    text = re.sub(r"e-mail", "email", text, flags=re.IGNORECASE)
    text = _ABBREVIATED_PREPOSITION.sub(lambda m: _PREPOSITIONS[m.group(1).lower()], text)
    return " ".join(_expand_tokens(_fold(text)))


# --- Rules ---------------------------------------------------------------


def _to_outcome(value: object) -> ReplyOutcome:
    try:
        return ReplyOutcome(str(value))
    except ValueError:
        allowed = ", ".join(outcome.value for outcome in ReplyOutcome)
        raise RuleViolation(
            f"Resultado de regra inválido '{value}': use {allowed}.",
            field="outcome",
            code="invalid_rule_outcome",
        ) from None


def _to_patterns(value: Iterable[str]) -> tuple[str, ...]:
    # A bare string would otherwise become a tuple of its characters.
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def _phrase_regex(phrase: str) -> str:
    """Build the regex of one normalised phrase, where each letter also matches a repeated letter."""
    squeezed = re.sub(r"([a-z])\1+", r"\1", phrase)
    parts: list[str] = []
    for char in squeezed:
        if char == " ":
            parts.append(" ")
        elif char.isalpha():
            parts.append(re.escape(char) + "+")
        else:
            parts.append(re.escape(char))
    return "".join(parts)


@attrs.frozen
class Rule:
    """A named set of patterns that, when one matches, points to an outcome.

    ``phrases`` are normalised like replies and match whole words. ``regexes``
    run unchanged against the normalised reply. A ``fallback`` rule decides
    only when no other rule matched.
    """

    name: str
    outcome: ReplyOutcome = attrs.field(converter=_to_outcome)
    phrases: tuple[str, ...] = attrs.field(default=(), converter=_to_patterns)
    regexes: tuple[str, ...] = attrs.field(default=(), converter=_to_patterns)
    fallback: bool = False
    compiled: tuple[re.Pattern[str], ...] = attrs.field(
        init=False, eq=False, repr=False, default=()
    )

    def __attrs_post_init__(self) -> None:
        self._check_name()

        if not self.phrases and not self.regexes:
            raise RuleViolation(
                f"A regra '{self.name}' não tem frases nem expressões regulares.",
                field="phrases",
                code="empty_rule_patterns",
            )
        if len(self.phrases) + len(self.regexes) > MAX_PATTERNS_PER_RULE:
            raise RuleViolation(
                f"A regra '{self.name}' tem mais de {MAX_PATTERNS_PER_RULE} padrões.",
                field="phrases",
                code="too_many_rule_patterns",
            )

        compiled: list[re.Pattern[str]] = []
        phrase_regexes = [self._phrase_pattern(phrase) for phrase in self.phrases]
        if phrase_regexes:
            # Longest first, so that at one position the longer phrase wins.
            phrase_regexes.sort(key=len, reverse=True)
            compiled.append(re.compile(r"(?<!\S)(?:" + "|".join(phrase_regexes) + r")(?!\S)"))
        compiled.extend(self._compile_regex(source) for source in self.regexes)
        object.__setattr__(self, "compiled", tuple(compiled))

    def _check_name(self) -> None:
        if len(self.name) > MAX_RULE_NAME_LENGTH or not _RULE_NAME.fullmatch(self.name):
            raise RuleViolation(
                f"Nome de regra inválido '{self.name}': use de 1 a {MAX_RULE_NAME_LENGTH} "
                "letras minúsculas sem acento, dígitos ou '_', começando por uma letra.",
                field="name",
                code="invalid_rule_name",
            )

    def _phrase_pattern(self, phrase: str) -> str:
        if len(phrase) > MAX_PATTERN_LENGTH:
            raise RuleViolation(
                f"A frase da regra '{self.name}' passa de {MAX_PATTERN_LENGTH} caracteres.",
                field="phrases",
                code="rule_pattern_too_long",
            )

        normalised = normalize_reply(phrase)
        if not normalised:
            raise RuleViolation(
                f"A frase '{phrase}' da regra '{self.name}' fica vazia depois de normalizada; "
                "use ao menos uma letra, um dígito ou '?'.",
                field="phrases",
                code="empty_rule_pattern",
            )
        return _phrase_regex(normalised)

    def _compile_regex(self, source: str) -> re.Pattern[str]:
        if len(source) > MAX_PATTERN_LENGTH:
            raise RuleViolation(
                f"A expressão regular da regra '{self.name}' passa de {MAX_PATTERN_LENGTH} caracteres.",
                field="regexes",
                code="rule_pattern_too_long",
            )

        try:
            pattern = re.compile(source)
        except re.error as error:
            raise RuleViolation(
                f"Expressão regular inválida '{source}' na regra '{self.name}': {error}.",
                field="regexes",
                code="invalid_rule_regex",
            ) from None

        # A pattern that matches empty text would fire on every reply.
        # NOTE: Python's re has no timeout, so a tenant regex with catastrophic
        # backtracking is only bounded by MAX_PATTERN_LENGTH and MAX_ANALYSED_LENGTH.
        if pattern.search("") is not None:
            raise RuleViolation(
                f"A expressão regular '{source}' da regra '{self.name}' casa com texto vazio; "
                "exija ao menos um caractere.",
                field="regexes",
                code="invalid_rule_regex",
            )
        return pattern


def _check_unique_names(rules: Sequence[Rule]) -> None:
    seen: set[str] = set()
    for rule in rules:
        if rule.name in seen:
            raise RuleViolation(
                f"Há mais de uma regra chamada '{rule.name}'.",
                field="rules",
                code="duplicate_rule_name",
            )
        seen.add(rule.name)


def _to_rules(value: Iterable[Rule]) -> tuple[Rule, ...]:
    return tuple(value)


@attrs.frozen
class RuleSet:
    """Ordered rules. When several rules of the winning outcome match, the first one is reported."""

    rules: tuple[Rule, ...] = attrs.field(converter=_to_rules)

    def __attrs_post_init__(self) -> None:
        _check_unique_names(self.rules)

    def with_tenant_rules(
        self, extra_rules: Sequence[Rule] = (), disabled_rule_names: Iterable[str] = ()
    ) -> RuleSet:
        """Return a copy with a tenant's rules added, replaced and disabled.

        A tenant rule named like an existing rule replaces it in place. Other
        tenant rules come first, so that they are reported before the default
        rules of the same outcome. Disabled names must exist in this set.
        """
        extra = tuple(extra_rules)
        if len(extra) > MAX_TENANT_RULES:
            raise RuleViolation(
                f"Um cliente pode definir até {MAX_TENANT_RULES} regras; foram informadas {len(extra)}.",
                field="rules",
                code="too_many_rules",
            )
        _check_unique_names(extra)
        for rule in extra:
            if rule.name in RESERVED_RULE_NAMES:
                raise RuleViolation(
                    f"O nome de regra '{rule.name}' é reservado; escolha outro nome.",
                    field="name",
                    code="reserved_rule_name",
                )

        known = {rule.name for rule in self.rules}
        disabled = set(disabled_rule_names)
        unknown = sorted(disabled - known)
        if unknown:
            raise RuleViolation(
                f"Regra desconhecida para desativar: {', '.join(unknown)}.",
                field="disabled_rule_names",
                code="unknown_rule_name",
            )

        replacements = {rule.name: rule for rule in extra if rule.name in known}
        added = [rule for rule in extra if rule.name not in known]
        kept = [
            replacements.get(rule.name, rule) for rule in self.rules if rule.name not in disabled
        ]
        return RuleSet(tuple(added + kept))

    def rule_names(self) -> list[str]:
        return [rule.name for rule in self.rules]


# --- Default rules (pt-BR) -------------------------------------------------

_Q = ReplyOutcome.QUALIFIED
_NI = ReplyOutcome.NOT_INTERESTED
_INV = ReplyOutcome.INVALID
_OUT = ReplyOutcome.OPT_OUT
_REV = ReplyOutcome.REVIEW

_STOP_VERBS = r"(mand|envi|lig|cham|escrev|incomod|perturb|procur|encher|mensag)\w*"

# The phrase lists stay packed, several to a line, because one phrase per
# line would spread them over hundreds of lines.
# fmt: off
DEFAULT_RULES = RuleSet(
    (
        # NOTE: bare words such as "sair", "cancelar" and "remover" also fire
        # inside unrelated sentences. A wrong opt-out loses one lead, while a
        # missed one keeps messaging a person who asked to stop.
        Rule(
            "opt_out",
            _OUT,
            phrases=(
                "pare", "parem", "parar", "pode parar", "sair", "quero sair", "sair da lista",
                "descadastrar", "descadastre", "descadastra", "descadastro", "me descadastra",
                "cancelar", "cancela", "cancelar inscrição", "remover", "remova", "remove",
                "remover meu número", "tira meu número", "tire meu número", "me tira da lista",
                "me tire da lista", "me tira", "me tire", "me retire", "stop", "unsubscribe",
                "spam", "bloquear", "vou bloquear", "denunciar", "vou denunciar",
                "não quero receber", "não quero mais receber", "não quero mensagens",
                "não quero mais mensagens", "não quero mais contato", "chega de mensagem",
                "não entre mais em contato", "não entrem mais em contato", "não me incomode",
                "não me perturbe",
            ),
            regexes=(
                rf"\b(pare|parem|para|parar) (de|com) (me |nos )?{_STOP_VERBS}",
                r"\bnao (me |nos )?(mande|mandem|manda|envie|enviem|envia|ligue|liguem|liga"
                r"|chame|chamem|procure|procurem|escreva|escrevam)( \w+)? mais\b",
            ),
        ),
        Rule(
            "wrong_contact",
            _INV,
            phrases=(
                "número errado", "número está errado", "telefone errado", "contato errado",
                "email errado", "pessoa errada", "empresa errada", "engano", "é engano",
                "foi engano", "por engano", "não é aqui", "não é daqui", "aqui não é",
                "não é essa empresa", "não é dessa empresa", "não conheço essa empresa",
                "não conheço esta empresa", "não conheço", "desconheço", "não sou dessa empresa",
                "não sou da empresa", "não trabalho mais aí", "não trabalho mais lá",
                "não trabalho mais nessa empresa", "não trabalho mais", "saí da empresa",
                "não faço mais parte", "já fechou", "fechamos", "fechou as portas",
                "encerramos", "encerrou as atividades", "não existe mais", "faliu",
                "faleceu", "vendi a empresa", "vendemos a empresa", "empresa foi vendida",
                "trocou de número", "mudou de número", "número pessoal", "número é pessoal",
                "não é da empresa",
            ),
            regexes=(
                r"\b(empresa|loja|firma|negocio|comercio|escritorio) (ja )?(fechou|faliu|encerrou"
                r"|foi fechada|foi encerrada|esta fechada|esta encerrada|nao existe)\b",
            ),
        ),
        Rule(
            "not_now",
            _NI,
            phrases=(
                "agora não", "no momento não", "não no momento", "por enquanto não",
                "não agora", "talvez depois", "talvez mais tarde", "talvez mais pra frente",
                "mais pra frente", "mais para frente", "quem sabe depois", "fica pra próxima",
                "fica para a próxima", "não é o momento", "sem verba", "sem orçamento",
                "não tenho verba", "não temos verba", "ano que vem", "próximo ano",
            ),
        ),
        Rule(
            "not_interested",
            _NI,
            phrases=(
                "não tenho interesse", "não tenho mais interesse", "não temos interesse",
                "não há interesse", "sem interesse", "nenhum interesse",
                "não estou interessado", "não estou interessada", "não estamos interessados",
                "não me interessa", "não interessa", "não quero", "não queremos",
                "não vou querer", "não preciso", "não precisamos", "não precisa",
                "não obrigado", "não obrigada", "obrigado mas não", "obrigada mas não",
                "dispenso", "estou fora", "já tenho fornecedor", "já temos fornecedor",
                "já tenho", "já temos", "já possuo", "já possuímos", "já uso", "já usamos",
                "já trabalho com", "já trabalhamos com", "não é do meu interesse",
                "não é do nosso interesse", "não faz sentido", "não se aplica",
                "claro que não", "lógico que não", "de jeito nenhum", "nem pensar",
            ),
        ),
        Rule(
            "no",
            _NI,
            phrases=("não", "não não", "nunca", "jamais", "negativo", "nope"),
        ),
        Rule(
            "interested",
            _Q,
            phrases=(
                "tenho interesse", "temos interesse", "teria interesse", "teríamos interesse",
                "tenho muito interesse", "tenho interesse sim", "interessado", "interessada",
                "interessados", "me interessa", "nos interessa", "interessa sim",
                "quero saber mais", "queria saber mais", "gostaria de saber mais",
                "quero mais informações", "gostaria de mais informações",
                "quero informações", "mais informações", "quero conhecer",
                "gostaria de conhecer", "quero sim", "queremos sim", "eu quero",
                "não tenho fornecedor", "não temos fornecedor", "estou procurando",
                "estamos procurando", "estava precisando", "estamos precisando",
                "preciso sim", "precisamos sim",
            ),
            regexes=(r"^(quero|queremos)$",),
        ),
        Rule(
            "call_me",
            _Q,
            phrases=(
                "pode ligar", "pode me ligar", "podem ligar", "podem me ligar", "me liga",
                "me ligue", "me liguem", "liga sim", "pode chamar", "pode me chamar",
                "me chama", "me chame", "pode falar", "pode entrar em contato",
                "podem entrar em contato", "entre em contato", "entrem em contato",
                "aguardo contato", "aguardo o contato", "aguardo seu contato",
                "aguardo retorno", "aguardo o retorno", "vamos conversar", "podemos conversar",
                "bora conversar", "marcar uma reunião", "agendar uma reunião",
                "pode agendar", "vamos marcar",
            ),
        ),
        Rule(
            "send_proposal",
            _Q,
            phrases=(
                "manda a proposta", "mande a proposta", "manda proposta", "envia a proposta",
                "envie a proposta", "pode mandar", "pode enviar", "podem mandar",
                "podem enviar", "manda aí", "manda sim", "me manda", "me envia", "me envie",
                "manda por email", "manda no email", "manda no whatsapp", "quero a proposta",
                "quero uma proposta", "quero um orçamento", "quero orçamento",
                "gostaria de um orçamento", "gostaria de uma proposta", "faz um orçamento",
            ),
            regexes=(r"^(manda|mande|envia|envie)$",),
        ),
        Rule(
            "yes",
            _Q,
            phrases=(
                "sim", "claro", "claro que sim", "com certeza", "certeza", "pode ser",
                "tenho sim", "temos sim", "isso mesmo", "positivo", "afirmativo",
                "por que não", "porque não", "bora", "vamos sim", "demorou", "perfeito",
                "ótimo", "sim senhor", "sim senhora", "uhum", "aham", "óbvio",
            ),
            regexes=(r"^pode( sim)?$",),
        ),
        Rule(
            "affirmative_short",
            _Q,
            phrases=(
                "ok", "beleza", "joinha", "certo", "tá bom", "fechado", "fechou",
                "combinado", "show", "top", "massa",
            ),
        ),
        Rule(
            "undecided",
            _REV,
            phrases=(
                "talvez", "não sei", "sei lá", "vou pensar", "vou ver", "vou verificar",
                "vou analisar", "deixa eu ver", "deixa eu pensar", "preciso pensar",
                "preciso ver", "vou conversar com", "vou falar com", "preciso falar com",
                "depende", "pode ser que", "não tenho certeza", "não entendi",
                "não estou entendendo", "não lembro", "não recebi", "pois não",
                "não sou o responsável", "não sou a responsável", "não sou responsável",
                "não sou o dono", "não sou a dona", "o responsável é", "falar com o dono",
                "falar com o responsável", "ok obrigado", "ok obrigada", "ok valeu",
                "ok grato", "certo obrigado", "certo obrigada", "beleza obrigado",
                "beleza valeu",
            ),
            # "Sim?" is how people pick up a phone call: the contact asks who is writing.
            regexes=(r"^(sim|pois nao|diga|pronto)( \?)+$",),
        ),
        Rule(
            "busy",
            _REV,
            phrases=(
                "estou ocupado", "estou ocupada", "não posso falar agora", "não posso agora",
                "não consigo falar agora", "não consigo falar", "estou em reunião",
                "estou dirigindo", "depois eu vejo", "depois vejo", "depois te respondo",
                "depois respondo",
            ),
            fallback=True,
        ),
        Rule(
            "question",
            _REV,
            phrases=(
                "?", "quem é", "quem fala", "quem está falando", "quem tá falando", "quem seria",
                "do que se trata", "se trata de que", "sobre o que", "o que é", "o que seria",
                "que empresa", "qual empresa", "como funciona", "quanto custa", "qual o valor",
                "qual valor", "qual o preço", "qual preço", "quanto fica", "quanto é",
                "de onde", "como conseguiu", "onde conseguiu", "onde pegou", "como assim",
            ),
            fallback=True,
        ),
        Rule(
            "greeting",
            _REV,
            phrases=(
                "oi", "oie", "olá", "opa", "alô", "hello", "bom dia", "boa tarde",
                "boa noite", "tudo bem", "tudo bom", "tudo certo", "e aí", "prezados",
                "prezado", "prezada",
            ),
            fallback=True,
        ),
        Rule(
            "thanks",
            _REV,
            phrases=(
                "obrigado", "obrigada", "valeu", "grato", "grata", "agradeço", "agradecemos",
                "tmj",
            ),
            fallback=True,
        ),
    )
)
# fmt: on


# --- ReplyClassification ------------------------------------------------------


@attrs.frozen
class ReplyClassification:
    """Outcome of one reply, the rule that decided it and the text the rules saw."""

    outcome: ReplyOutcome
    rule: str
    text: str


@attrs.frozen
class _Match:
    order: int
    rule: str
    outcome: ReplyOutcome
    fallback: bool
    start: int
    end: int

    def contains(self, other: _Match) -> bool:
        longer = self.end - self.start > other.end - other.start
        return longer and self.start <= other.start and other.end <= self.end


def _find_matches(text: str, rules: RuleSet) -> list[_Match]:
    matches: list[_Match] = []
    for order, rule in enumerate(rules.rules):
        for pattern in rule.compiled:
            for found in pattern.finditer(text):
                if found.end() > found.start():
                    matches.append(
                        _Match(
                            order,
                            rule.name,
                            rule.outcome,
                            rule.fallback,
                            found.start(),
                            found.end(),
                        )
                    )
    return matches


def _drop_contained(matches: list[_Match]) -> list[_Match]:
    return [match for match in matches if not any(other.contains(match) for other in matches)]


def _is_negated(match: _Match, text: str, matches: list[_Match]) -> bool:
    """Tell whether a negator is up to NEGATION_WINDOW words before a yes match.

    A negator inside a longer phrase that ends before the yes match ("por que
    não", "agora não") belongs to that phrase and negates nothing after it. A
    phrase that overlaps the yes match ("não quero" in "não quero saber mais")
    still negates it. A ``?`` ends the window.
    """
    before = list(re.finditer(r"\S+", text[: match.start]))[-NEGATION_WINDOW:]
    for token in reversed(before):
        if token.group() == "?":
            return False
        if token.group() not in NEGATORS:
            continue
        inside_phrase = any(
            other.start <= token.start()
            and token.end() <= other.end
            and other.end <= match.start
            and other.end - other.start > token.end() - token.start()
            for other in matches
        )
        if not inside_phrase:
            return True
    return False


def _apply_negation(text: str, matches: list[_Match]) -> list[_Match]:
    result: list[_Match] = []
    for match in matches:
        if match.outcome is ReplyOutcome.QUALIFIED and _is_negated(match, text, matches):
            match = attrs.evolve(
                match,
                rule=NEGATED_YES_RULE,
                outcome=ReplyOutcome.NOT_INTERESTED,
                fallback=False,
            )
        result.append(match)
    return result


def _first(matches: list[_Match], outcome: ReplyOutcome) -> _Match | None:
    candidates = [match for match in matches if match.outcome is outcome]
    return min(candidates, key=lambda match: match.order, default=None)


def _decide(matches: list[_Match]) -> tuple[ReplyOutcome, str]:
    decisive = [match for match in matches if not match.fallback]
    outcomes = {match.outcome for match in decisive}

    opt_out = _first(decisive, ReplyOutcome.OPT_OUT)
    if opt_out is not None:
        return opt_out.outcome, opt_out.rule

    qualified = _first(decisive, ReplyOutcome.QUALIFIED)
    if qualified is not None:
        if outcomes & {ReplyOutcome.NOT_INTERESTED, ReplyOutcome.INVALID}:
            return ReplyOutcome.REVIEW, CONFLICT_RULE
        undecided = _first(decisive, ReplyOutcome.REVIEW)
        if undecided is not None:
            return undecided.outcome, undecided.rule
        return qualified.outcome, qualified.rule

    for outcome in (ReplyOutcome.INVALID, ReplyOutcome.NOT_INTERESTED, ReplyOutcome.REVIEW):
        match = _first(decisive, outcome)
        if match is not None:
            return match.outcome, match.rule

    fallback = min(matches, key=lambda match: match.order, default=None)
    if fallback is not None:
        return fallback.outcome, fallback.rule
    return ReplyOutcome.REVIEW, NO_MATCH_RULE


def classify(text: str, rules: RuleSet = DEFAULT_RULES) -> ReplyClassification:
    """Classify a reply; a tenant passes its ``RuleSet.with_tenant_rules`` result."""
    normalised = normalize_reply(text)[:MAX_ANALYSED_LENGTH]
    if not normalised:
        return ReplyClassification(ReplyOutcome.REVIEW, EMPTY_RULE, normalised)

    matches = _drop_contained(_find_matches(normalised, rules))
    matches = _apply_negation(normalised, matches)
    outcome, rule = _decide(matches)
    return ReplyClassification(outcome, rule, normalised)
