"""Offline classifier: keyword and example matching over the taxonomy, no network, stdlib only.

It is the first pass for every verdict and the fallback when no LLM is configured or the LLM
fails, so it must be deterministic, fast on any input, and never raise on odd text.
"""

from __future__ import annotations

import dataclasses
import math
import re
import unicodedata
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace

from bot.taxonomy import OTHER_REASON_ID, Taxonomy

__all__ = [
    "BACKEND",
    "MODEL",
    "PROMPT_VERSION",
    "Classification",
    "OfflineClassifier",
    "detect_language",
    "fold",
    "score_sentiment",
    "suggested_action",
]

BACKEND = "offline"
MODEL = "offline-keywords"
PROMPT_VERSION = "offline-1"

# Beyond this the head of the text is enough to classify, and latency stays bounded.
MAX_CHARS = 200_000
QUOTE_MAX = 160

# A reason needs at least one keyword hit to be chosen; example similarity only breaks ties.
_MIN_KEYWORD_SCORE = 1.0
_SECONDARY_FRACTION = 0.2
_MAX_SECONDARY = 3
_SIMILARITY_CAP = 1.0
_SIMILARITY_SCALE = 0.2
# `other` keywords ("no particular reason") are weak: any real reason should outrank them.
_OTHER_WEIGHT = 0.5


@dataclass(frozen=True)
class Classification:
    """One classification result; the LLM classifier produces the same type."""

    primary_reason: str
    secondary_reasons: tuple[str, ...]
    confidence: float
    sentiment: str
    severity: str
    language: str
    summary: str
    suggested_action: str
    backend: str
    model: str
    prompt_version: str
    taxonomy_version: str
    provisional: bool
    # Added with the LLM classifier; defaults keep older callers working.
    cues: tuple[str, ...] = ()  # the words or phrases that decided, so a person can see why
    facts: tuple[str, ...] = ()  # facts that matter for contact ("former customer", ...)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    text_hash: str | None = None  # LLM cache key: hash of the masked verbatim

    def to_dict(self) -> dict[str, object]:
        """The result as plain JSON-ready data (the CLI prints this)."""
        data = dataclasses.asdict(self)
        data["secondary_reasons"] = list(self.secondary_reasons)
        data["cues"] = list(self.cues)
        data["facts"] = list(self.facts)
        return data


# --------------------------------------------------------------------------- text handling

_FOLD_TABLE = str.maketrans(
    {
        "œ": "oe",
        "æ": "ae",
        "ø": "o",
        "ł": "l",
        "đ": "d",
        "ð": "d",
        "þ": "th",
        "ı": "i",
        "’": "'",
        "‘": "'",
        "ʼ": "'",
        # Currency signs become words, so "£50" or "20 €" counts as talk of money.
        "€": " euro ",
        "£": " pound ",
        "$": " dollar ",
    }
)
_TOKEN_RE = re.compile(r"[a-z0-9]+")
# Sentence ends, plus line breaks and semicolons, so that quotes stay short and to the point.
_SENTENCE_RE = re.compile(r"[^.!?;…\n]+[.!?;…]*")
_CLAUSE_RE = re.compile(r"(?<=[,:])\s+")


def fold(text: str) -> str:
    """Lowercase and strip accents ("Réparé" -> "repare") so matching ignores both."""
    text = text.casefold().translate(_FOLD_TABLE)
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _words(text: str) -> list[str]:
    return text.split()


def _tokens(text: str) -> list[str]:
    return _TOKEN_RE.findall(fold(text))


@dataclass(frozen=True)
class _Term:
    """A compiled keyword: one word or a phrase, each word exact(+plural) or prefix."""

    text: str
    words: tuple[str, ...]
    prefix: tuple[bool, ...]
    weight: float


def _compile_term(raw: str, weight_scale: float = 1.0) -> _Term | None:
    raw = raw.strip()
    star = raw.endswith("*")
    whole = raw.endswith("!")  # "signal!" must not match "signaler" (to report, in French)
    words = tuple(_tokens(raw.rstrip("*!")))
    if not words:
        return None
    # Long words are stems ("rembours"); short ones ("sav", "fee") would match too much as
    # prefixes, so they match whole words plus a plural.
    last = len(words) - 1
    prefix = tuple(
        (len(w) >= 5 and not (whole and i == last)) or (star and i == last)
        for i, w in enumerate(words)
    )
    weight = min(2.0, 1.0 + 0.25 * (len(words) - 1)) * weight_scale
    return _Term(text=raw, words=words, prefix=prefix, weight=weight)


def _compile_terms(raws: Iterable[str], weight_scale: float = 1.0) -> tuple[_Term, ...]:
    seen: set[tuple[tuple[str, ...], tuple[bool, ...]]] = set()
    terms: list[_Term] = []
    for raw in raws:
        term = _compile_term(raw, weight_scale)
        if term is not None and (term.words, term.prefix) not in seen:
            seen.add((term.words, term.prefix))
            terms.append(term)
    return tuple(terms)


def _word_ok(pattern: str, is_prefix: bool, token: str) -> bool:
    if is_prefix:
        return token.startswith(pattern)
    return token == pattern or token in (pattern + "s", pattern + "x", pattern + "es")


def _quote_units(text: str) -> Iterator[str]:
    """Sentences, with long ones cut at commas into pieces that fit in a quote."""
    for match in _SENTENCE_RE.finditer(text):
        sentence = " ".join(match.group(0).split())
        if len(sentence) <= QUOTE_MAX:
            yield sentence
            continue
        chunk = ""
        for piece in _CLAUSE_RE.split(sentence):
            if chunk and len(chunk) + 1 + len(piece) > QUOTE_MAX:
                yield chunk
                chunk = piece
            else:
                chunk = f"{chunk} {piece}" if chunk else piece
        if chunk:
            yield chunk


# Clause breaks inside a sentence: a negation or a "no problem with" never reaches past them.
_CLAUSE_BREAK_RE = re.compile(r"[,:()\[\]–—\"«»“”]")
_CONTRAST = frozenset(
    _words("mais but however cependant pourtant sauf except although though whereas contre")
)


def _fold_map(text: str) -> tuple[str, list[int]]:
    """The folded text and, for each folded character, its index in `text` (for quoting cues)."""
    folded = fold(text)
    if len(folded) == len(text):
        return folded, list(range(len(text)))  # the usual case: accents dropped one for one
    out: list[str] = []
    where: list[int] = []
    for i, ch in enumerate(text):
        piece = fold(ch)
        out.append(piece)
        where.extend([i] * len(piece))
    return "".join(out), where


@dataclass
class _Doc:
    """The text as folded tokens, with an index for fast keyword lookup, sentence and clause
    ids, and where each token came from (so a cue can be quoted as the customer wrote it)."""

    tokens: list[str]
    sentence_of: list[int]
    sentences: list[str]
    index: dict[str, list[int]] = field(default_factory=dict)
    vocab: list[str] = field(default_factory=list)
    clause_of: list[int] = field(default_factory=list)
    spans: list[tuple[int, int]] = field(default_factory=list)
    _keys: tuple[set[str], set[str]] | None = None  # lookup_keys(), computed once

    @classmethod
    def build(cls, text: str) -> _Doc:
        tokens: list[str] = []
        sentence_of: list[int] = []
        sentences: list[str] = []
        clause_of: list[int] = []
        spans: list[tuple[int, int]] = []
        clause = 0
        for sentence in _quote_units(text):
            folded, where = _fold_map(sentence)
            matches = list(_TOKEN_RE.finditer(folded))
            if not matches:
                continue
            sid = len(sentences)
            sentences.append(sentence)
            clause += 1
            previous_end = 0
            for match in matches:
                word = match.group(0)
                if _CLAUSE_BREAK_RE.search(folded, previous_end, match.start()) or (
                    word in _CONTRAST
                ):
                    clause += 1
                previous_end = match.end()
                tokens.append(word)
                sentence_of.append(sid)
                clause_of.append(clause)
                spans.append((where[match.start()], where[match.end() - 1] + 1))
        index: dict[str, list[int]] = {}
        for pos, tok in enumerate(tokens):
            index.setdefault(tok, []).append(pos)
        return cls(tokens, sentence_of, sentences, index, sorted(index), clause_of, spans)

    def lookup_keys(self) -> tuple[set[str], set[str]]:
        """What a term's first word may be to match here: each word, also without a plural's
        "s", "x" or "es" (the rule of _word_ok, reversed), and each word's every prefix."""
        if self._keys is None:
            exact: set[str] = set()
            prefixes: set[str] = set()
            for token in self.index:
                exact.add(token)
                if token.endswith(("s", "x")):
                    exact.add(token[:-1])
                if token.endswith("es"):
                    exact.add(token[:-2])
                prefixes.update(token[:k] for k in range(1, len(token) + 1))
            self._keys = (exact, prefixes)
        return self._keys

    def surface(self, start: int, length: int) -> str:
        """The words at token positions [start, start+length) as the customer wrote them."""
        sentence = self.sentences[self.sentence_of[start]]
        return sentence[self.spans[start][0] : self.spans[start + length - 1][1]]

    def _positions(self, word: str, is_prefix: bool) -> list[int]:
        if not is_prefix:
            out: list[int] = []
            for variant in (word, word + "s", word + "x", word + "es"):
                out.extend(self.index.get(variant, ()))
            return out
        out = []
        i = bisect_left(self.vocab, word)
        while i < len(self.vocab) and self.vocab[i].startswith(word):
            out.extend(self.index[self.vocab[i]])
            i += 1
        return out

    def find(self, term: _Term) -> list[int]:
        """Start positions where the term occurs."""
        starts = self._positions(term.words[0], term.prefix[0])
        if len(term.words) == 1:
            return sorted(starts)
        n = len(self.tokens)
        found = []
        for start in starts:
            end = start + len(term.words)
            # A phrase never spans two sentences: "…the bill. Went up…" is no "went up".
            if (
                end <= n
                and self.sentence_of[end - 1] == self.sentence_of[start]
                and all(
                    _word_ok(w, p, self.tokens[start + k])
                    for k, (w, p) in enumerate(zip(term.words[1:], term.prefix[1:], strict=True), 1)
                )
            ):
                found.append(start)
        return sorted(found)


@dataclass(frozen=True)
class _Hit:
    start: int
    length: int
    term: _Term


@dataclass(frozen=True)
class _FirstWords:
    """Term positions by first word, exact and prefix, with those words as sets (set & set
    walks the smaller one; a dict's keys & a set copies the keys first)."""

    terms: Sequence[_Term]
    exact: dict[str, list[int]]
    prefix: dict[str, list[int]]
    exact_words: frozenset[str]
    prefix_words: frozenset[str]


_FIRST_WORD_INDEX: dict[int, _FirstWords] = {}


def _first_word_index(terms: Sequence[_Term]) -> _FirstWords:
    """The first-word index of a term list, built once per list."""
    cached = _FIRST_WORD_INDEX.get(id(terms))
    if cached is not None and cached.terms is terms:
        return cached
    exact: dict[str, list[int]] = {}
    prefix: dict[str, list[int]] = {}
    for i, term in enumerate(terms):
        (prefix if term.prefix[0] else exact).setdefault(term.words[0], []).append(i)
    index = _FirstWords(terms, exact, prefix, frozenset(exact), frozenset(prefix))
    _FIRST_WORD_INDEX[id(terms)] = index
    return index


def _candidates(doc: _Doc, terms: Sequence[_Term]) -> list[_Term]:
    """The terms whose first word occurs in the document: looking up the document's words in an
    index of terms costs far less than trying every term of every reason."""
    index = _first_word_index(terms)
    exact_keys, prefix_keys = doc.lookup_keys()
    found: set[int] = set()
    for key in index.exact_words & exact_keys:
        found.update(index.exact[key])
    for key in index.prefix_words & prefix_keys:
        found.update(index.prefix[key])
    return [terms[i] for i in sorted(found)]


def _match(doc: _Doc, terms: Sequence[_Term]) -> list[_Hit]:
    """All non-overlapping hits; longer and heavier terms win a contested word."""
    candidates = [
        _Hit(start, len(term.words), term)
        for term in _candidates(doc, terms)
        for start in doc.find(term)
    ]
    candidates.sort(key=lambda h: (-h.length, -h.term.weight, h.start, h.term.text))
    taken: set[int] = set()
    kept: list[_Hit] = []
    for hit in candidates:
        span = range(hit.start, hit.start + hit.length)
        if any(p in taken for p in span):
            continue
        taken.update(span)
        kept.append(hit)
    kept.sort(key=lambda h: h.start)
    return kept


def _score_hits(hits: Sequence[_Hit]) -> float:
    # Distinct keywords are the evidence; repeating one word adds a little, up to 3 times.
    counts = Counter(h.term for h in hits)
    return sum(t.weight * (1.0 + 0.25 * (min(n, 3) - 1)) for t, n in counts.items())


# --------------------------------------------------------------------------- language

_STOPWORDS: dict[str, frozenset[str]] = {
    "fr": frozenset(
        _words(
            "le la les des du un une et est je j il elle nous vous ils elles pas ne n que qui qu "
            "dans pour sur avec mon ma mes ce cette c au aux ai suis sont mais ou leur m d l y "
            "se s on trop tout rien depuis chez fait ete etre avoir tres plus votre vos notre "
            "sans lui leurs cet sa ses son moi toujours jamais"
        )
    ),
    "en": frozenset(
        _words(
            "the and is are was were i you it my to of not have has had that this with for they "
            "we be been but or do does did don t at on me your their what when so very just no "
            "an too from would will can because after again our us get got never any"
        )
    ),
    "de": frozenset(
        _words(
            "der die das und ist ich nicht ein eine einen mit den dem zu auf fur sie es wir ihr "
            "mein meine sehr auch aber oder wie war habe hat haben noch nach bei vom zum immer "
            "schon kein keine wurde wird mir mich sich ihnen uber"
        )
    ),
    "es": frozenset(
        _words(
            "el los las y es que no una por para con mi muy pero lo se del al su como mas ya "
            "esta estoy fue he ha hay nos me son desde tengo porque cuando sin otra ni yo les "
            "todo nada siempre nunca"
        )
    ),
    "it": frozenset(
        _words(
            "il lo gli di e che non un una per con mio mia sono ho ha hanno del della dei nel "
            "nella alla al molto ma anche come piu questo questa ancora sempre perche gia mi ci "
            "si da dopo tutto io sempre niente mai"
        )
    ),
    "pt": frozenset(
        _words(
            "o os as e que nao uma um com meu minha muito mas do da dos das em no na foi tem eu "
            "isso voce para por ja ainda sempre nunca estou sao"
        )
    ),
    "nl": frozenset(
        _words(
            "de het een en is ik niet van met dat die er op te zijn mijn maar ook nog wel geen "
            "heb heeft was naar bij voor om dan jullie altijd nooit"
        )
    ),
}
_ALL_STOPWORDS = frozenset().union(*_STOPWORDS.values())
_LANG_SAMPLE_TOKENS = 3000


def _detect_language_tokens(tokens: Sequence[str]) -> str:
    sample = tokens[:_LANG_SAMPLE_TOKENS]
    if len(sample) < 3:
        return "und"
    hits = {lang: sum(1 for t in sample if t in words) for lang, words in _STOPWORDS.items()}
    ranked = sorted(hits.items(), key=lambda kv: (-kv[1], kv[0]))
    (best, best_hits), (_, second_hits) = ranked[0], ranked[1]
    # Short texts share many stopwords across languages: demand a clear lead, else "und".
    if best_hits < 2 or best_hits < 1.3 * second_hits or best_hits == second_hits:
        return "und"
    return best


def detect_language(text: str) -> str:
    """ISO 639-1 code of the text's language by stopword frequency, or "und" when unclear."""
    return _detect_language_tokens(_tokens(text[:MAX_CHARS]))


# --------------------------------------------------------------------------- lexicons

_POSITIVE = _compile_terms(
    [
        *_words(
            "great excellent thank perfect happy satisfied helpful love amazing recommend good "
            "fantastic friendly pleased smooth wonderful merci bravo parfait satisfait superbe "
            "genial efficace agreable content recommande ravi aimable impeccable sympa "
            "zufrieden danke toll gracias excelente bueno contento grazie ottimo"
        ),
        "well done",
        "keep it up",
        "au top",
        "tres bien",
        "very good",
        "muy bien",
    ]
)
_NEGATIVE = _compile_terms(
    [
        *_words(
            "terrible awful worst disappoint unacceptable frustrat angry furious useless "
            "horrible scam ridiculous poor bad hate nightmare rude incompetent shameful disgrace "
            "appalling pathetic waste annoy upset problem lied joke nul nulle honte honteu "
            "inadmissible scandal decu decevant deception mecontent catastroph lamentable pire "
            "inacceptable arnaque furieux marre colere probleme galere mepris ridicule desastre "
            "insupportable mauvais rancune degoute enerve schlecht enttauscht katastrophe "
            "argerlich malo pesimo decepcion pessimo deluso vergogna"
        ),
        "fed up",
        "never again",
        "waste of time",
        "perdre mon temps",
        "perte de temps",
        "n importe quoi",
        "plus jamais",
        "ras le bol",
    ]
)
_NEGATORS = frozenset(
    _words(
        "pas not no never jamais aucun aucune ni sans without nicht kein keine nunca non nessun "
        "don didn doesn isn wasn won aren weren t nao niet geen"
    )
)

# Churn already happened: the customer speaks as a former customer.
_CHURNED = _compile_terms(
    [
        "j ai resilie",
        "ai resilie",
        "resilie mon",
        "resilie ma",
        "ma resiliation",
        "apres ma resiliation",
        "plus client",
        "plus cliente",
        "ancien client",
        "ancienne cliente",
        "ex client",
        "ex cliente",
        "je suis parti",
        "je suis partie",
        "j ai quitte",
        "ai change d operateur",
        "leur ai dit adieu",
        "cancelled",
        "canceled",
        "i left",
        "i have left",
        "i ve left",
        "no longer a customer",
        "no longer with",
        "former customer",
        "ex customer",
        "i switched",
        "have switched",
        "terminated my",
        "closed my account",
        "ported my number",
        "gekundigt",
        "me di de baja",
        "me he dado de baja",
        "cancele",
        "he cancelado",
        "cancelado mi",
        "ho disdetto",
        "disdetto il",
    ]
)
# Cancellation announced but maybe not done yet: as urgent, but the customer is still ours.
_CANCELLING = _compile_terms(
    [
        "resili",
        "je pars",
        "je vais partir",
        "quitter",
        "changer d operateur",
        "cancel",
        "leaving",
        "going to leave",
        "will leave",
        "going to switch",
        "terminate",
        "close my account",
        "kundig",
        "dar de baja",
        "darme de baja",
        "cancelar",
        "disdetta",
        "disdire",
    ]
)
_LEGAL = _compile_terms(
    [
        "avocat",
        "tribunal",
        "justice",
        "porter plainte",
        "porte plainte",
        "deposer plainte",
        "plainte contre",
        "ufc",
        "que choisir",
        "mediateur",
        "arcep",
        "dgccrf",
        "juridique",
        "mise en demeure",
        "huissier",
        "lawyer",
        "attorney",
        "sue",
        "suing",
        "in court",
        "to court",
        "court case",
        "legal action",
        "ombudsman",
        "small claims",
        "ofcom",
        "fcc",
        "regulator",
        "trading standards",
        "bbb",
        "class action",
        "anwalt",
        "abogado",
        "avvocato",
    ]
)
_REPEATED = _compile_terms(
    [
        "deux fois",
        "trois fois",
        "quatre fois",
        "cinq fois",
        "2 fois",
        "3 fois",
        "4 fois",
        "5 fois",
        "plusieurs fois",
        "plusieurs reprises",
        "trois reprises",
        "3 reprises",
        "a chaque fois",
        "encore",
        "toujours",
        "nieme",
        "enieme",
        "a nouveau",
        "de nouveau",
        "a repetition",
        "sans arret",
        "again",
        "still",
        "twice",
        "three times",
        "four times",
        "3 times",
        "4 times",
        "several times",
        "multiple times",
        "many times",
        "numerous times",
        "repeatedly",
        "every time",
        "third time",
        "fourth time",
        "yet another",
        "keeps",
        "kept",
        "immer noch",
        "otra vez",
        "di nuovo",
    ]
)

# --------------------------------------------------------------------------- negation

# A reason the customer clears is no reason: "pas de problème de réseau", "no issues with the
# price", "happy with the network". Each phrase clears the keywords after it in its clause.
_CLEARING = _compile_terms(
    [
        "pas de probleme",
        "pas de souci",
        "pas un probleme",
        "aucun probleme",
        "aucun souci",
        "sans probleme",
        "sans souci",
        "jamais eu de probleme",
        "jamais eu de souci",
        "rien a redire",
        "rien a dire",
        "rien a reprocher",
        "aucun reproche",
        "pas de reproche",
        "rien a voir",
        "pas une question",
        "pas a cause",
        "pas pour",
        "ce n est pas",
        "c est pas",
        "ni",
        "satisfait",
        "satisfaite",
        "content de",
        "contente de",
        "content du",
        "contente du",
        "no problem",
        "not a problem",
        "no issue",
        "not an issue",
        "no complaint",
        "nothing wrong",
        "never had a problem",
        "never had any problem",
        "never had an issue",
        "never had any issue",
        "not about",
        "not because",
        "not due to",
        "nothing to do with",
        "it s not",
        "it is not",
        "it wasn t",
        "it was not",
        "nor",
        "happy with",
        "satisfied with",
        "pleased with",
    ]
)
# A keyword followed in its clause by praise is cleared too: "le réseau est très bien",
# "customer service were friendly", "the price was fine".
_PRAISE = frozenset(
    _words(
        "fine good great excellent perfect ok okay fair reasonable friendly polite helpful "
        "reliable fast correct correcte corrects bien bon bonne bons parfait parfaite impeccable "
        "top nickel irreprochable aimable aimables agreable agreables sympa convenait convient "
        "rapide fiable satisfaisant"
    )
)
# "pas cher", "not expensive", "pas trop lent": a negation right before an adjective clears it.
_ADJ_NEGATORS = frozenset(_words("pas not never jamais t"))
_INTENSIFIERS = frozenset(_words("trop si tres vraiment super du tout too that so very really all"))
# ... but a remedy that did not happen is the complaint itself: "pas réparé", "not refunded".
_REMEDIES = (
    "fix",
    "repar",
    "repai",
    "resol",
    "rembours",
    "refund",
    "rappel",
    "answer",
    "replac",
    "remplac",
    "call",
    "solv",
    "work",
    "fonction",
    "march",
    "deliver",
    "livr",
    "recu",
    "receiv",
)


# --------------------------------------------------------------------------- team-language text

_STATUS_WORDS = {
    "en": {
        "former": "Former customer",
        "cancelling": "Customer cancelling",
        "negative": "Unhappy customer",
        "neutral": "Customer feedback",
        "positive": "Positive feedback",
    },
    "fr": {
        "former": "Client parti",
        "cancelling": "Client qui résilie",
        "negative": "Client mécontent",
        "neutral": "Retour client",
        "positive": "Retour positif",
    },
}
# Complaints "cite" a reason; neutral or positive feedback is only "about" it.
_REASON_PHRASE = {
    "en": {
        "complaint": " citing {reason}",
        "feedback": " about {reason}",
        "unclear": ", reason unclear",
    },
    "fr": {
        "complaint": ", motif : {reason}",
        "feedback": ", sujet : {reason}",
        "unclear": ", motif non identifié",
    },
}
_ALSO = {"en": "; also {reasons}.", "fr": " ; aussi : {reasons}."}
_QUOTE = {"en": "“{quote}”", "fr": "« {quote} »"}
_EMPTY_SUMMARY = {
    "en": "No words to classify in this verdict.",
    "fr": "Aucun mot à classer dans ce verdict.",
}

_ACTIONS: dict[str, dict[str, str]] = {
    "en": {
        "after_sales_repairs": (
            "Check the device's repair history, then contact the customer yourself with one "
            "concrete fix (replacement or loan device) and a date."
        ),
        "customer_service": (
            "Read every earlier contact, then have one named owner contact the customer with an "
            "answer and a follow-up date."
        ),
        "price_billing": (
            "Check the recent invoices for errors or increases and contact the customer with a "
            "correction or a refund where one is due."
        ),
        "network_quality": (
            "Check coverage and incidents at the customer's address and tell them what was "
            "found and what will be fixed, with a date."
        ),
        "competitor_offer": (
            "Compare the competitor's offer with ours and decide whether a matching offer is "
            "worth making before contacting the customer."
        ),
        "contract_commitment": (
            "Review the contract terms, fees and recent plan changes, then explain them to the "
            "customer clearly or waive what was not agreed."
        ),
        "moving_personal": (
            "Acknowledge the situation and handle the termination and any fees with care; no "
            "retention pitch."
        ),
        OTHER_REASON_ID: (
            "Read the verbatim, set the reason by hand, and contact the customer if a follow-up "
            "is needed."
        ),
    },
    "fr": {
        "after_sales_repairs": (
            "Consulter l'historique des réparations, puis contacter vous-même le client avec une "
            "solution concrète (échange ou appareil de prêt) et une date."
        ),
        "customer_service": (
            "Relire tous les contacts précédents, puis qu'un responsable nommé contacte le client "
            "avec une réponse et une date de suivi."
        ),
        "price_billing": (
            "Vérifier les dernières factures (erreurs, hausses) et contacter le client avec une "
            "correction ou un remboursement s'il est dû."
        ),
        "network_quality": (
            "Vérifier la couverture et les incidents à l'adresse du client et lui dire ce qui a "
            "été trouvé et ce qui sera corrigé, avec une date."
        ),
        "competitor_offer": (
            "Comparer l'offre concurrente à la nôtre et décider si une contre-offre se justifie "
            "avant de contacter le client."
        ),
        "contract_commitment": (
            "Revoir le contrat, les frais et les changements d'offre récents, puis les expliquer "
            "clairement au client ou annuler ce qui n'a pas été accepté."
        ),
        "moving_personal": (
            "Prendre acte de la situation et traiter la résiliation et les frais avec égard, sans "
            "argumentaire de fidélisation."
        ),
        OTHER_REASON_ID: (
            "Lire le verbatim, fixer le motif à la main et contacter le client si un suivi est "
            "nécessaire."
        ),
    },
}
_GENERIC_ACTION = {
    "en": "Read the verbatim and contact the customer yourself about: {reason}.",
    "fr": "Lire le verbatim et contacter vous-même le client au sujet de : {reason}.",
}
# A former customer may no longer reach subscriber-only lines: the team makes the contact.
_FORMER_NOTE = {
    "en": " They are a former customer: reach out yourself, by phone or in writing.",
    "fr": " Client parti : le contacter vous-même, par téléphone ou par écrit.",
}


_CALLBACK_MISSED = _compile_terms(
    [
        "jamais rappele",
        "jamais rappelee",
        "pas rappele",
        "pas rappelee",
        "personne ne rappelle",
        "personne ne m a rappele",
        "personne ne m a rappelee",
        "rappel qui n est jamais",
        "promis un rappel",
        "never called back",
        "never called me back",
        "never rang back",
        "nobody called back",
        "no one called back",
        "nobody called me back",
        "promised a call back",
        "promised to call",
        "promised a callback",
    ]
)
_FACTS = {
    "en": {
        "former": "Former customer: they say they have already left.",
        "cancelling": "Says they are leaving or cancelling.",
        "legal": "Mentions legal action or a regulator.",
        "repeated": "The problem keeps coming back.",
        "callback": "A promised call-back never came.",
    },
    "fr": {
        "former": "Client parti : il dit avoir déjà résilié.",
        "cancelling": "Dit qu'il part ou qu'il résilie.",
        "legal": "Évoque une action en justice ou un régulateur.",
        "repeated": "Le problème revient sans cesse.",
        "callback": "Un rappel promis n'est jamais venu.",
    },
}
_NOT_A_REASON = {"en": "not a complaint: {cue}", "fr": "pas un grief : {cue}"}
_MAX_CUES = 8


def _team_lang(lang: str) -> str:
    base = (lang or "en").strip().lower().replace("_", "-").split("-")[0]
    return base if base in _STATUS_WORDS else "en"


def _label_in_sentence(label: str) -> str:
    # "Service client" -> "service client", but keep acronyms such as "SAV et réparations".
    if len(label) > 1 and label[0].isupper() and not label[1].isupper():
        return label[0].lower() + label[1:]
    return label


def _shorten(text: str, limit: int = QUOTE_MAX) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:-") + "…"


# --------------------------------------------------------------------------- scores


def score_sentiment(score: int | None, scale: str | None) -> str | None:
    """Sentiment from the customer's own rating (NPS 0-10 or CSAT 1-5), or None without one."""
    if score is None or isinstance(score, bool):
        return None
    kind = (scale or "nps").strip().lower()
    if kind in {"csat", "1-5", "stars", "5", "/5"}:
        if not 1 <= score <= 5:
            return None
        return "negative" if score <= 2 else "neutral" if score == 3 else "positive"
    if kind in {"nps", "0-10", "10", "/10", "ltr"}:
        if not 0 <= score <= 10:
            return None
        return "negative" if score <= 6 else "neutral" if score <= 8 else "positive"
    return None


def _clearing_starts(doc: _Doc) -> dict[int, int]:
    """Clause -> token position after which keywords are cleared ("pas de problème de ...")."""
    starts: dict[int, int] = {}
    for hit in _match(doc, _CLEARING):
        before = doc.tokens[max(0, hit.start - 2) : hit.start]
        same_clause = [
            t
            for i, t in enumerate(before, max(0, hit.start - 2))
            if doc.clause_of[i] == doc.clause_of[hit.start]
        ]
        if any(t in _NEGATORS for t in same_clause):
            continue  # "pas satisfait du réseau", "not happy with the price": a complaint
        clause = doc.clause_of[hit.start]
        end = hit.start + hit.length
        starts[clause] = min(starts.get(clause, end), end)
    return starts


def _is_cleared(doc: _Doc, hit: _Hit, clearing: dict[int, int]) -> bool:
    """Whether the customer said this keyword is NOT their problem (see _CLEARING, _PRAISE)."""
    clause = doc.clause_of[hit.start]
    if clause in clearing and clearing[clause] <= hit.start:
        return True
    # Praise after the keyword in its clause, with no negation in between: "X est très bien".
    end = hit.start + hit.length
    for i in range(end, min(len(doc.tokens), end + 4)):
        if doc.clause_of[i] != clause or doc.tokens[i] in _NEGATORS:
            break
        if doc.tokens[i] in _PRAISE:
            return True
    # A negation right before (allowing "trop", "very"...): "pas cher", "not too slow".
    i = hit.start - 1
    if i >= 0 and doc.tokens[i] in _INTENSIFIERS and doc.clause_of[i] == clause:
        i -= 1
    if i < 0 or doc.clause_of[i] != clause or doc.tokens[i] not in _ADJ_NEGATORS:
        return False
    return not doc.tokens[hit.start].startswith(_REMEDIES)


# --------------------------------------------------------------------------- classifier


@dataclass(frozen=True)
class _ReasonModel:
    reason_id: str
    terms: tuple[_Term, ...]
    example_stems: frozenset[str]


def _content_stems(tokens: Iterable[str]) -> set[str]:
    return {t[:6] for t in tokens if len(t) >= 4 and t not in _ALL_STOPWORDS and not t.isdigit()}


class OfflineClassifier:
    """Deterministic keyword classifier over a taxonomy; works without any network."""

    backend = BACKEND
    model = MODEL
    prompt_version = PROMPT_VERSION

    def __init__(
        self, taxonomy: Taxonomy, *, team_language: str = "en", provisional: bool = False
    ) -> None:
        self.taxonomy = taxonomy
        # True when an LLM pass follows: results are first answers, replaced when it answers.
        self.provisional = provisional
        self.team_language = _team_lang(team_language)
        models: list[_ReasonModel] = []
        for reason in taxonomy.reasons:
            scale = _OTHER_WEIGHT if reason.id == OTHER_REASON_ID else 1.0
            raws = [kw for words in reason.keywords.values() for kw in words]
            stems = _content_stems(t for ex in reason.examples for t in _tokens(ex))
            models.append(_ReasonModel(reason.id, _compile_terms(raws, scale), frozenset(stems)))
        self._models = tuple(models)
        # Example words shared by many reasons ("client", "months") say nothing: weight by idf.
        df = Counter(stem for m in models for stem in m.example_stems)
        n = len(models)
        self._idf = {stem: math.log(n / count) for stem, count in df.items()}

    def classify(
        self, text: str, *, score: int | None = None, scale: str | None = None
    ) -> Classification:
        """Classify one verbatim; `score`/`scale` (NPS 0-10 or CSAT 1-5) steer the sentiment."""
        text = (text or "")[:MAX_CHARS]
        doc = _Doc.build(text)
        lang = self.team_language
        if not doc.tokens:
            sentiment = score_sentiment(score, scale) or "neutral"
            return self._result(
                OTHER_REASON_ID,
                (),
                0.0,
                sentiment,
                "medium" if sentiment == "negative" else "low",
                "und",
                _EMPTY_SUMMARY[lang],
                self._action(OTHER_REASON_ID, former=False),
            )

        doc_stems = _content_stems(doc.index)
        keyword_scores: dict[str, float] = {}
        totals: dict[str, float] = {}
        hits_by_reason: dict[str, list[_Hit]] = {}
        cleared_from = _clearing_starts(doc)
        cleared: list[_Hit] = []
        for m in self._models:
            hits: list[_Hit] = []
            for hit in _match(doc, m.terms):
                (cleared if _is_cleared(doc, hit, cleared_from) else hits).append(hit)
            kw = _score_hits(hits)
            shared = doc_stems & m.example_stems
            sim = min(_SIMILARITY_CAP, _SIMILARITY_SCALE * sum(self._idf[s] for s in shared))
            keyword_scores[m.reason_id] = kw
            totals[m.reason_id] = kw + sim if kw > 0 else 0.0
            hits_by_reason[m.reason_id] = hits

        order = {rid: i for i, rid in enumerate(self.taxonomy.ids())}
        ranked = sorted(
            (rid for rid in totals if keyword_scores[rid] > 0),
            key=lambda rid: (-totals[rid], order[rid]),
        )
        real = [rid for rid in ranked if rid != OTHER_REASON_ID]
        strong = [rid for rid in real if keyword_scores[rid] >= _MIN_KEYWORD_SCORE]

        if strong and totals[strong[0]] >= totals.get(OTHER_REASON_ID, 0.0):
            primary = strong[0]
            best = totals[primary]
            secondary = tuple(
                rid for rid in strong[1:] if totals[rid] >= _SECONDARY_FRACTION * best
            )[:_MAX_SECONDARY]
            runner_up = totals[strong[1]] if len(strong) > 1 else 0.0
            margin = (best - runner_up) / best
            evidence = 1.0 - math.exp(-keyword_scores[primary] / 2.0)
            confidence = 0.2 + 0.75 * evidence * (0.4 + 0.6 * margin)
        elif keyword_scores.get(OTHER_REASON_ID, 0.0) > 0:
            # "No particular reason" is an answer, if a weak one.
            primary, secondary, confidence = OTHER_REASON_ID, (), 0.35
        else:
            primary, secondary, confidence = OTHER_REASON_ID, (), 0.1
        confidence = round(min(0.95, max(0.0, confidence)), 2)

        language = _detect_language_tokens(doc.tokens)
        positive_hits, negative_hits = self._polarity(doc)
        lexicon = len(positive_hits) - len(negative_hits)
        churned_hits = _match(doc, _CHURNED)
        cancelling_hits = _match(doc, _CANCELLING)
        legal_hits = _match(doc, _LEGAL)
        repeated_hits = _match(doc, _REPEATED)

        if lexicon > 0 and not churned_hits:
            text_sentiment = "positive"
        elif lexicon < 0 or churned_hits or cancelling_hits or primary != OTHER_REASON_ID:
            # Exit surveys and complaints rarely use angry words: a stated reason to leave is
            # itself negative.
            text_sentiment = "negative"
        else:
            text_sentiment = "neutral"
        # The customer's own rating is the better signal when there is one.
        sentiment = score_sentiment(score, scale) or text_sentiment

        if (
            churned_hits
            or cancelling_hits
            or legal_hits
            or (repeated_hits and sentiment == "negative")
        ):
            severity = "high"
        elif sentiment == "negative":
            severity = "medium"
        else:
            severity = "low"

        status = "former" if churned_hits else "cancelling" if cancelling_hits else sentiment
        telling = self._telling_sentence(
            doc,
            primary_hits=hits_by_reason.get(primary, []) if primary != OTHER_REASON_ID else [],
            other_hits=[h for rid in secondary for h in hits_by_reason[rid]]
            + churned_hits
            + cancelling_hits
            + legal_hits
            + negative_hits,
        )
        summary = self._summary(primary, secondary, status, telling)
        action = self._action(primary, former=bool(churned_hits))
        deciding = [h for rid in (primary, *secondary) for h in hits_by_reason.get(rid, [])]
        cues = [doc.surface(h.start, h.length) for h in deciding if primary != OTHER_REASON_ID]
        cues += [
            _NOT_A_REASON[lang].format(cue=doc.surface(h.start, h.length))
            for h in cleared
            if h.term.weight >= 1.0  # `other`'s weak phrases are no reason to mention
        ]
        flags = {
            "former": churned_hits,
            "cancelling": cancelling_hits if not churned_hits else [],
            "legal": legal_hits,
            "repeated": repeated_hits if sentiment == "negative" else [],
            "callback": _match(doc, _CALLBACK_MISSED),
        }
        facts = tuple(_FACTS[lang][name] for name, found in flags.items() if found)
        return replace(
            self._result(
                primary, secondary, confidence, sentiment, severity, language, summary, action
            ),
            cues=tuple(dict.fromkeys(cues))[:_MAX_CUES],
            facts=facts,
        )

    # ----------------------------------------------------------------------- helpers

    def _result(
        self,
        primary: str,
        secondary: tuple[str, ...],
        confidence: float,
        sentiment: str,
        severity: str,
        language: str,
        summary: str,
        action: str,
    ) -> Classification:
        return Classification(
            primary_reason=primary,
            secondary_reasons=secondary,
            confidence=confidence,
            sentiment=sentiment,
            severity=severity,
            language=language,
            summary=summary,
            suggested_action=action,
            backend=BACKEND,
            model=MODEL,
            prompt_version=PROMPT_VERSION,
            taxonomy_version=self.taxonomy.version,
            provisional=self.provisional,
        )

    @staticmethod
    def _polarity(doc: _Doc) -> tuple[list[_Hit], list[_Hit]]:
        def negated(hit: _Hit) -> bool:
            return any(t in _NEGATORS for t in doc.tokens[max(0, hit.start - 3) : hit.start])

        positive: list[_Hit] = []
        # "not bad" is no complaint; "pas satisfait", "not happy" are.
        negative = [h for h in _match(doc, _NEGATIVE) if not negated(h)]
        for hit in _match(doc, _POSITIVE):
            (negative if negated(hit) else positive).append(hit)
        return positive, negative

    @staticmethod
    def _telling_sentence(doc: _Doc, primary_hits: list[_Hit], other_hits: list[_Hit]) -> str:
        weights: Counter[int] = Counter()
        for hit in primary_hits:
            weights[doc.sentence_of[hit.start]] += 2
        for hit in other_hits:
            weights[doc.sentence_of[hit.start]] += 1
        if not weights:
            return doc.sentences[0]
        best = min(weights, key=lambda sid: (-weights[sid], sid))
        return doc.sentences[best]

    def _summary(self, primary: str, secondary: tuple[str, ...], status: str, telling: str) -> str:
        lang = self.team_language
        head = _STATUS_WORDS[lang][status]
        phrases = _REASON_PHRASE[lang]
        if primary == OTHER_REASON_ID:
            line = head + phrases["unclear"]
        else:
            reason = _label_in_sentence(self.taxonomy.label(primary, lang))
            kind = "feedback" if status in ("neutral", "positive") else "complaint"
            line = head + phrases[kind].format(reason=reason)
        if secondary:
            others = ", ".join(_label_in_sentence(self.taxonomy.label(r, lang)) for r in secondary)
            line += _ALSO[lang].format(reasons=others)
        else:
            line += "."
        return line + "\n" + _QUOTE[lang].format(quote=_shorten(telling))

    def _action(self, primary: str, *, former: bool) -> str:
        return suggested_action(self.taxonomy, primary, self.team_language, former=former)


def suggested_action(taxonomy: Taxonomy, reason_id: str, lang: str, *, former: bool = False) -> str:
    """The next step suggested for a reason, in the team's language (also after a correction)."""
    lang = _team_lang(lang)
    action = _ACTIONS[lang].get(reason_id) or _GENERIC_ACTION[lang].format(
        reason=_label_in_sentence(taxonomy.label(reason_id, lang))
    )
    return action + (_FORMER_NOTE[lang] if former else "")
