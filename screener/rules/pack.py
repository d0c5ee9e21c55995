"""Load, validate and compile rule-pack files into one immutable `RulePack`.

Everything that can be wrong with a pack is found here, at load time, and reported as
`file:line: reason` (all problems at once). A compiled pack is plain data plus closures with a
content-hash version; the engine never parses, looks names up or compiles anything per message.

Long: compiling a pack is one pass over its spec (lexicons, regexes, rules, banks) whose
steps share the problems list and the name tables.
"""

from __future__ import annotations

import gc
import hashlib
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import orjson
from pydantic import ValidationError

from screener.artefacts import ArtefactCache
from screener.banks.bank import BankError, HashBank, load_bank
from screener.match.lexicon import (
    LexiconMatcher,
    Term,
    compile_pattern,
    folded_pattern,
    is_latin_word,
    pinyin_terms,
    term_view,
    word_breaks,
)
from screener.match.regexes import RegexError, RegexSet, validate
from screener.match.regexes import RegexSpec as RegexEntry
from screener.match.spellings import Spellings
from screener.model.floors import model_floors
from screener.model.linear import LinearModel, ModelError
from screener.model.linear import load as load_model
from screener.rules.batch import BatchRule, compile_batch
from screener.rules.compiler import Clauses, Compiler, references, requirements
from screener.rules.condition import ConditionError, Evaluator, Node, Reference, Scope, parse
from screener.rules.errors import PackError
from screener.rules.files import allow_external_default, confined, read_text
from screener.rules.source import PathKey, SourceFile, read_source
from screener.rules.spec import (
    MAX_TERM_CHARS,
    ExamplesSpec,
    LexiconSpec,
    PackSpec,
    RegexSpec,
    TermSpec,
    Thresholds,
)
from screener.state.behaviour import Needs
from screener.state.windows import WindowSpec
from screener.text.folding import Folding, build_folding, compute_folding, load_or_build
from screener.verdict import Action

MAX_LEXICON_BYTES = 64_000_000
"""A lexicon file above this size is refused unread."""
MAX_FILE_TERMS = 250_000
"""Terms in one lexicon file: 100,000 load in ~1.9 s of CPU, 1,000,000 took ~30 s and 1.7 GB,
too much for a worker's reload; the largest public lists hold under 100,000."""
MAX_SET_FILE_TERMS = 500_000
"""Terms in all the lexicon files of a pack set together."""


@dataclass(frozen=True, eq=False)
class CompiledRule:
    id: str
    category: str
    score: float
    action: Action | None
    condition: Evaluator
    exceptions: tuple[Evaluator, ...]
    requires: Clauses
    """evidence the condition cannot hold without (see `requirements`); empty: runs always."""
    references: frozenset[Reference]
    """evidence the condition looks at: its matches go into the finding."""
    uses: frozenset[Reference]
    """everything condition and exceptions look at: what must be computed for this rule."""
    origin: str
    """file:line where the rule is defined."""
    examples: ExamplesSpec | None
    shadow: bool = False
    """`mode: shadow`: its findings go to `Verdict.shadow`, never into the action."""
    model_floors: dict[str, float] = field(default_factory=dict)
    """model category → lowest probability condition or exceptions read it at."""
    batch: BatchRule | None = None
    """the same condition and exceptions over whole batches (`screener.rules.batch`)."""


@dataclass(frozen=True, eq=False)
class RulePack:
    """A compiled, immutable pack set: swap it whole to change rules."""

    version: str
    folding: Folding
    lexicon_names: tuple[str, ...]
    matcher: LexiconMatcher
    detectors: frozenset[str]
    regexes: RegexSet
    rules: tuple[CompiledRule, ...]
    disabled: tuple[str, ...]
    thresholds: Thresholds
    files: tuple[Path, ...]
    behaviour: Needs = field(default_factory=Needs)
    model: LinearModel | None = None
    model_floors: tuple[tuple[int, float], ...] = ()
    """(model class index, lowest probability any rule reads it at): what the engine passes on."""
    """windows, banks and escalation the rules read from per-partition state."""

    @property
    def term_count(self) -> int:
        return self.matcher.size


def hidden(path: Path, under: Path) -> bool:
    """Whether `path` (below `under`) is, or is inside, a dot-file or dot-directory."""
    return any(part.startswith(".") for part in path.relative_to(under).parts)


def pack_files(paths: Iterable[Path | str], *, allow_external: bool | None = None) -> list[Path]:
    """YAML files named directly, or found (recursively, in name order) under directories
    (those must resolve inside their directory: a symlink out is refused like a `file:`).

    Hidden entries are skipped: a Kubernetes ConfigMap volume holds every file twice, as the
    visible symlink and in a hidden `..<timestamp>` directory (which a reload swaps)."""
    if allow_external is None:
        allow_external = allow_external_default()
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml")
                           and not hidden(p, path))  # fmt: skip
            for p in found:
                name = str(p.relative_to(path))
                confined(path, name, f"{p}:1", allow_external=allow_external)
            files.extend(found)
        elif path.exists():
            files.append(path)
        else:
            raise PackError([f"{path}:1: no such file or directory"])
    if not files:
        raise PackError([f"{', '.join(map(str, paths))}:1: no rule pack files (*.yaml) found"])
    return files


def load_packs(
    paths: Iterable[Path | str],
    *,
    allow_external: bool | None = None,
    cache: ArtefactCache | None = None,
    phases: Phases | None = None,
    model: Path | str | None = None,
    defer_hyperscan: bool = False,
) -> RulePack:
    """Read, validate and compile packs; raise `PackError` listing every problem.

    `model` (a model directory) replaces the learned model the packs declare, if any.

    `allow_external` lets packs read files outside their own directory (default: the
    SCREENER_RULES_ALLOW_EXTERNAL environment variable, else no). `cache` holds compiled
    regex databases between runs (default: `ArtefactCache.default()`; `ArtefactCache(None)`
    for none). `phases` collects where the time went (`screener bench compile`).
    `defer_hyperscan`: a Hyperscan database missing from the cache is compiled only once
    `pack.regexes.start()` (or `wait()`) is called, not at once in the background: a
    one-shot `screener scan` would compile it for nothing (see `RegexSet`).
    """
    if allow_external is None:
        allow_external = allow_external_default()
    timer = phases if phases is not None else Phases()
    with timer("parse"):
        files = pack_files(paths, allow_external=allow_external)
        sources = [read_source(p) for p in files]
    with timer("tables"):
        # an explicit cache (the compile benchmark, tests) decides for the tables too; the
        # default is the process-wide memo over the default cache
        folding = build_folding() if cache is None else load_or_build(cache, compute_folding)
    builder = _Builder(sources, folding, timer, allow_external=allow_external,
                       model=Path(model) if model is not None else None,
                       defer_hyperscan=defer_hyperscan)  # fmt: skip
    with _no_cyclic_gc():
        return builder.build(ArtefactCache.default() if cache is None else cache)


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Pause the cycle collector while a pack is compiled on the main thread: a big lexicon
    makes millions of acyclic objects, and each full collection re-scans all of them (a
    1M-term file took 45 s of CPU with it, and ~10× the 100k-term time; nothing here is
    freed by it). The collector is process-wide, so a compile in another thread (a worker's
    hot reload) leaves it running: pausing it there would pause it for the screening loop
    too; and a worker's tuned thresholds (`screener.runtime.tune_gc`) make full collections
    rare anyway."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


class Phases(dict[str, float]):
    """Seconds spent per compile phase: `with phases("parse"): ...` adds to "parse"."""

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self[name] = self.get(name, 0.0) + time.perf_counter() - start


class FileTerm(NamedTuple):
    """A plain term line of a lexicon file (or a plain string term): a `TermSpec` without
    options, made without pydantic because a file can hold a million of them."""

    term: str
    tags: tuple[str, ...] = ()
    word: bool | None = None
    homophone: bool | None = None
    pinyin: bool | None = None
    repeat: bool | None = None


class _Digest:
    """The pack version: SHA-256 of `orjson.dumps([[file spec, {lexicon: [file term, …]}],
    …], OPT_SORT_KEYS)`, fed piece by piece so a million-term file never becomes one big
    list of dicts and one big JSON string (the same bytes, so versions are unchanged)."""

    _PLAIN = (b'{"homophone":null,"pinyin":null,"repeat":null,"tags":[],"term":', b',"word":null}')

    def __init__(self) -> None:
        self._hash = hashlib.sha256(b"[")
        self._items = 0

    def append(self, item: Any) -> None:
        """One more item of the list (as `list.append` on the list that would be dumped)."""
        data = orjson.dumps(item, option=orjson.OPT_SORT_KEYS)
        self._hash.update((b"," if self._items else b"") + data)
        self._items += 1

    def add(self, spec: dict[str, Any], file_terms: dict[str, list[TermSpec | FileTerm]]) -> None:
        """One pack file's item: its spec and the terms its lexicon files hold."""
        update, dumps, sort = self._hash.update, orjson.dumps, orjson.OPT_SORT_KEYS
        update(b"," if self._items else b"")
        self._items += 1
        update(b"[" + dumps(spec, option=sort) + b",{")
        for n, name in enumerate(sorted(file_terms)):
            update((b"," if n else b"") + dumps(name) + b":[")
            terms = file_terms[name]
            for lo in range(0, len(terms), 10_000):
                chunk = b",".join([self._term(t) for t in terms[lo : lo + 10_000]])
                update((b"," if lo else b"") + chunk)
            update(b"]")
        update(b"}]")

    def _term(self, term: TermSpec | FileTerm) -> bytes:
        if isinstance(term, FileTerm) and not term.tags:
            head, tail = self._PLAIN
            return head + orjson.dumps(term.term) + tail
        data = {
            "term": term.term, "tags": list(term.tags), "word": term.word,
            "homophone": term.homophone, "pinyin": term.pinyin, "repeat": term.repeat,
        }  # fmt: skip
        return orjson.dumps(data, option=orjson.OPT_SORT_KEYS)

    def hexdigest(self) -> str:
        done = self._hash.copy()
        done.update(b"]")
        return done.hexdigest()


def _validation_problems(source: SourceFile, exc: ValidationError) -> list[str]:
    problems = []
    for err in exc.errors(include_url=False):
        loc: PathKey = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))
        key = ".".join(str(p) for p in loc)
        problems.append(f"{source.where(loc)}: {key or 'pack'}: {err['msg']}")
    return problems


class _Builder:
    """One compilation: collects problems instead of stopping at the first."""

    def __init__(
        self,
        sources: list[SourceFile],
        folding: Folding,
        phases: Phases,
        *,
        allow_external: bool = False,
        model: Path | None = None,
        defer_hyperscan: bool = False,
    ):
        self.sources = sources
        self.defer_hyperscan = defer_hyperscan
        self.model_path = model
        self.allow_external = allow_external
        self.problems: list[str] = []
        self.folding = folding
        self.phase = phases
        self.file_terms = 0
        self._spell = Spellings(ArtefactCache(None))
        """pinyin spellings of terms; `build` gives it the artefact cache."""
        """terms read from lexicon files so far (bounded by `MAX_SET_FILE_TERMS`)."""

    def fail(self, source: SourceFile, key: PathKey, reason: str) -> None:
        self.problems.append(f"{source.where(key)}: {reason}")

    def build(self, cache: ArtefactCache | None = None) -> RulePack:
        specs: list[tuple[SourceFile, PackSpec]] = []
        with self.phase("validate"):
            for source in self.sources:
                try:
                    specs.append((source, PackSpec.model_validate(source.data)))
                except ValidationError as exc:
                    self.problems.extend(_validation_problems(source, exc))
        if not any(spec.rules for _, spec in specs):
            names = ", ".join(str(s.path) for s in self.sources[:3])
            self.problems.append(f"{self.sources[0].path}:1: the pack set ({names}) defines no "
                                 "rules: everything would be allowed")  # fmt: skip
        if self.problems:
            raise PackError(self.problems)
        self._spell = Spellings(ArtefactCache(None) if cache is None else cache)
        with self.phase("lexicons"):
            lexicon_index, terms, digest, thresholds = self._lexicons(specs)
            self._spell.save()
        with self.phase("regexes"):
            regexes = self._regexes(specs)
        with self.phase("validate"):
            regex_index = {name: entry.index for name, entry in regexes.items()}
            tags = frozenset(t for term in terms for t in term.tags)
            macros = self._macros(specs)
            banks = self._banks(specs, digest)
            model = self._model(specs)
            categories = frozenset(model.categories) if model is not None else None
            scope = Scope(lexicon_index, regex_index, macros, tags, frozenset(banks), categories)
            self._check_macros(specs, scope)
            rules, disabled = self._rules(specs, scope)
        with self.phase("lexicons"):
            try:
                matcher = LexiconMatcher(self.folding, terms)
            except ValueError as exc:  # already reported per term; belt and braces
                self.problems.append(f"{self.sources[0].path}:1: {exc}")
        if self.problems:
            raise PackError(self.problems)

        used = {ref for rule in rules for ref in rule.uses}
        if model is not None:
            digest.append(["model", model.version])
        version = digest.hexdigest()
        floors: dict[str, float] = {}
        for rule in rules:
            for category, value in rule.model_floors.items():
                floors[category] = min(floors.get(category, value), value)
        with self.phase("regexes"):
            regex_set = RegexSet(
                [r for r in regexes.values() if Reference("regex", r.index) in used], cache,
                defer=self.defer_hyperscan,
            )  # fmt: skip
        return RulePack(
            version=f"sha256:{version}",
            folding=self.folding,
            lexicon_names=tuple(lexicon_index),
            matcher=matcher,
            detectors=frozenset(str(r.key) for r in used if r.kind == "detector"),
            regexes=regex_set,
            rules=tuple(rules),
            disabled=tuple(disabled),
            thresholds=thresholds or Thresholds(),
            files=tuple(s.path for s in self.sources),
            behaviour=self._needs(specs, used, banks),
            model=model,
            model_floors=tuple(
                (model.classes.index(c), v) for c, v in sorted(floors.items())
            ) if model is not None else (),
        )  # fmt: skip

    # -- the learned model ---------------------------------------------------------------------

    def _model(self, specs: list[tuple[SourceFile, PackSpec]]) -> LinearModel | None:
        """The `--model` directory if given, else the one pack file that declares `model:`."""
        declared = [(source, spec.model) for source, spec in specs if spec.model is not None]
        for source, _ in declared[1:]:
            self.fail(source, ("model",), "model is declared in more than one file")
        if self.model_path is not None:
            where, path = f"{self.model_path}", self.model_path
        elif declared:
            source, raw = declared[0]
            assert raw is not None
            where = source.where(("model",))
            try:
                path = confined(source.path.parent, raw, where, allow_external=self.allow_external)
            except PackError as exc:
                self.problems.extend(exc.problems)
                return None
        else:
            return None
        try:
            return load_model(path)
        except ModelError as exc:
            self.problems.append(f"{where}: {exc}")
            return None

    # -- behaviour: banks, windows, escalation -------------------------------------------------

    def _banks(self, specs: list[tuple[SourceFile, PackSpec]], digest: _Digest
               ) -> dict[str, HashBank]:  # fmt: skip
        banks: dict[str, HashBank] = {}
        for source, spec in specs:
            for name, bank in spec.banks.items():
                where = source.where(("banks", name, "file"))
                if name in banks:
                    self.fail(source, ("banks", name), f"bank {name!r} is defined twice")
                    continue
                try:
                    path = confined(source.path.parent, bank.file, where,
                                    allow_external=self.allow_external)  # fmt: skip
                    banks[name] = load_bank(path, name=name, distance=bank.distance)
                except PackError as exc:
                    self.problems.extend(exc.problems)
                except BankError as exc:
                    self.problems.append(f"{where}: {exc}")
                else:
                    digest.append(["bank", name, bank.distance, sorted(banks[name].pdq_hex),
                                   sorted(k.hex() for k in banks[name].sha256)])  # fmt: skip
        return banks

    def _needs(self, specs: list[tuple[SourceFile, PackSpec]], used: set[Reference],
               banks: dict[str, HashBank]) -> Needs:  # fmt: skip
        windows: set[WindowSpec] = set()
        for ref in used:
            if ref.kind == "signal":
                scope_kind, _, window = str(ref.key).partition("@")
                kind = scope_kind.split(".", 1)[1]
                windows.add(WindowSpec(kind, int(window)))
        escalation = next((spec.escalation for _, spec in specs if spec.escalation), None)
        if escalation is None:
            return Needs(frozenset(windows), banks)
        unit = {"s": 1, "m": 60, "h": 3600, "d": 86400}[escalation.window[-1]]
        seconds = int(escalation.window[:-1]) * unit
        return Needs(frozenset(windows), banks, escalation.flagged, seconds)

    def _lexicons(
        self, specs: list[tuple[SourceFile, PackSpec]]
    ) -> tuple[dict[str, int], list[Term], _Digest, Thresholds | None]:
        """Every file's lexicons as terms; the content digest; the one `thresholds`."""
        lexicon_index: dict[str, int] = {}
        terms: list[Term] = []
        digest = _Digest()
        thresholds: Thresholds | None = None
        for source, spec in specs:
            file_terms: dict[str, list[TermSpec | FileTerm]] = {}
            for name, lex in spec.lexicons.items():
                if name in lexicon_index:
                    self.fail(source, ("lexicons", name), f"lexicon {name!r} is defined twice")
                    continue
                lexicon_index[name] = len(lexicon_index)
                loaded = self._lexicon_terms(source, name, lex)
                file_terms[name] = loaded
                terms.extend(self._terms(source, name, lexicon_index[name], lex, loaded))
            for i, allowed in enumerate(spec.allow):
                terms.extend(self._allow(source, ("allow", i), -1, [allowed]))
            if spec.thresholds is not None:
                if thresholds is not None:
                    self.fail(source, ("thresholds",), "thresholds are set in more than one file")
                thresholds = spec.thresholds
            digest.add(spec.model_dump(mode="json"), file_terms)
        return lexicon_index, terms, digest, thresholds

    # -- lexicons ------------------------------------------------------------------------------

    def _lexicon_terms(
        self, source: SourceFile, name: str, lex: LexiconSpec
    ) -> list[TermSpec | FileTerm]:
        """Terms from a lexicon's `file:` (one per line, `term<TAB>tag,tag`, # comments)."""
        if lex.file is None:
            return []
        where = source.where(("lexicons", name, "file"))
        try:
            path = confined(source.path.parent, lex.file, where, allow_external=self.allow_external)
            lines = read_text(path, MAX_LEXICON_BYTES, where).splitlines()
        except PackError as exc:
            self.problems.extend(p.replace(": cannot read", ": cannot read lexicon file", 1)
                                 for p in exc.problems)  # fmt: skip
            return []
        out: list[TermSpec | FileTerm] = []
        for lineno, line in enumerate(lines, 1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            if len(out) >= MAX_FILE_TERMS:
                self.problems.append(f"{path}:{lineno}: more than {MAX_FILE_TERMS} terms")
                break
            if self.file_terms + len(out) >= MAX_SET_FILE_TERMS:
                self.problems.append(f"{path}:{lineno}: the pack set's lexicon files hold more "
                                     f"than {MAX_SET_FILE_TERMS} terms")  # fmt: skip
                break
            word, tab, tagtext = text.partition("\t")
            word = word.strip()
            if not tab and len(word) <= MAX_TERM_CHARS:  # the common line: one plain term
                out.append(FileTerm(word))  # valid by construction: no pydantic model per line
                continue
            tags = [t.strip() for t in tagtext.split(",") if t.strip()]
            try:
                out.append(TermSpec(term=word, tags=tags))
            except ValidationError as exc:
                msg = exc.errors(include_url=False)[0]["msg"]
                self.problems.append(f"{path}:{lineno}: {msg}")
        self.file_terms += len(out)
        return out

    def _terms(
        self,
        source: SourceFile,
        name: str,
        index: int,
        lex: LexiconSpec,
        loaded: list[TermSpec | FileTerm],
    ) -> list[Term]:
        out: list[Term] = []
        entries: list[tuple[PathKey, str | TermSpec | FileTerm]] = [
            (("lexicons", name, "terms", i), t) for i, t in enumerate(lex.terms)
        ]
        entries += [(("lexicons", name, "file"), t) for t in loaded]
        fold, folding = self.folding.fold_text, self.folding
        base_tags = tuple(lex.tags)
        for key, entry in entries:
            spec = FileTerm(entry) if isinstance(entry, str) else entry
            homophone = lex.homophone if spec.homophone is None else spec.homophone
            repeat = lex.repeat if spec.repeat is None else spec.repeat
            folded = fold(spec.term)  # once per term: a lexicon file can hold a million
            view = term_view(homophone, repeat)
            # most terms are letters only: then the pattern is the folded text, with no word
            # breaks, and only the Latin test is left (each test one translate, in C)
            plain = (
                view == "compact" and bool(folded) and "\n" not in folded
                and not folded.translate(folding.word_deleter)
            )  # fmt: skip
            word = spec.word if spec.word is not None else lex.word
            if word is None:
                word = (
                    not folded.translate(folding.alnum_deleter)
                    if plain
                    else is_latin_word(folding, spec.term, folded)
                )
            tags = tuple(dict.fromkeys([*base_tags, *spec.tags])) if spec.tags else base_tags
            breaks = frozenset() if plain else word_breaks(folding, spec.term, folded)
            pattern = folded if plain else folded_pattern(folding, folded, view)
            if not pattern:
                self.fail(source, key, f"term {spec.term!r} has no letters or digits to match")
                continue
            term = Term(spec.term, index, tags, word, False, view, breaks, pattern=pattern)
            out.append(term)
            if lex.pinyin if spec.pinyin is None else spec.pinyin:
                out.extend(pinyin_terms(self.folding, term, self._spell))
        out.extend(self._allow(source, ("lexicons", name, "allow"), index, lex.allow))
        return out

    def _allow(self, source: SourceFile, key: PathKey, index: int, words: list[str]) -> list[Term]:
        out = []
        for word in words:
            term = Term(word, index, (), False, True, "compact")
            if self._empty(term):
                self.fail(source, key, f"allow entry {word!r} has no letters or digits")
            else:
                out.append(term)
        return out

    def _empty(self, term: Term) -> bool:
        return not compile_pattern(self.folding, term.text, term.view)

    # -- regexes, macros, rules ----------------------------------------------------------------

    def _regexes(self, specs: list[tuple[SourceFile, PackSpec]]) -> dict[str, RegexEntry]:
        index: dict[str, RegexEntry] = {}
        for source, spec in specs:
            for name, raw in spec.regexes.items():
                key: PathKey = ("regexes", name)
                if name in index:
                    self.fail(source, key, f"regex {name!r} is defined twice")
                    continue
                rx = raw if isinstance(raw, RegexSpec) else RegexSpec(pattern=raw)
                try:
                    validate(rx.pattern)
                except RegexError as exc:
                    self.fail(source, key, f"regex {name!r} refused: {exc}")
                    continue
                index[name] = RegexEntry(len(index), rx.view, rx.pattern)
        return index

    def _macros(self, specs: list[tuple[SourceFile, PackSpec]]) -> dict[str, Node]:
        macros: dict[str, Node] = {}
        for source, spec in specs:
            for name, text in spec.macros.items():
                key: PathKey = ("macros", name)
                if name in macros:
                    self.fail(source, key, f"macro {name!r} is defined twice")
                    continue
                try:
                    macros[name] = parse(text)
                except ConditionError as exc:
                    self.fail(source, key, f"macro {name!r}: {exc}")
        return macros

    def _check_macros(self, specs: list[tuple[SourceFile, PackSpec]], scope: Scope) -> None:
        """Compile every macro once, used or not, so a broken one is reported where it is."""
        compiler = Compiler(scope)
        for source, spec in specs:
            for name in spec.macros:
                if name not in scope.macros:
                    continue
                try:
                    compiler.compile(compiler.expand(scope.macros[name], (name,)))
                except ConditionError as exc:
                    self.fail(source, ("macros", name), f"macro {name!r}: {exc}")

    def _rules(
        self, specs: list[tuple[SourceFile, PackSpec]], scope: Scope
    ) -> tuple[list[CompiledRule], list[str]]:
        compiler = Compiler(scope)
        rules: list[CompiledRule] = []
        disabled: list[str] = []
        seen: dict[str, str] = {}
        for source, spec in specs:
            for i, rule in enumerate(spec.rules):
                key: PathKey = ("rules", i)
                if rule.id in seen:
                    self.fail(source, (*key, "id"), f"duplicate rule id {rule.id!r} "
                              f"(first defined at {seen[rule.id]})")  # fmt: skip
                    continue
                seen[rule.id] = source.where((*key, "id"))
                try:
                    tree = compiler.expand(parse(rule.condition))
                    condition = compiler.compile(tree)
                except ConditionError as exc:
                    self.fail(source, (*key, "condition"), f"rule {rule.id}: condition: {exc}")
                    continue
                exceptions: list[Evaluator] = []
                exception_trees: list[Node] = []
                uses = set(references(tree, scope))
                floors = model_floors(tree)
                for j, text in enumerate(rule.exceptions):
                    try:
                        exception = compiler.expand(parse(text))
                        exceptions.append(compiler.compile(exception))
                        exception_trees.append(exception)
                        uses |= references(exception, scope)
                        for category in model_floors(exception, always=True):
                            floors[category] = 0.0  # an exception reads it for every message
                    except ConditionError as exc:
                        self.fail(
                            source, (*key, "exceptions", j), f"rule {rule.id}: exception: {exc}"
                        )
                if not rule.enabled:
                    disabled.append(rule.id)
                    continue
                rules.append(
                    CompiledRule(
                        id=rule.id, category=rule.category, score=rule.score, action=rule.action,
                        condition=condition, exceptions=tuple(exceptions),
                        requires=requirements(tree, scope), references=references(tree, scope),
                        uses=frozenset(uses), origin=seen[rule.id], examples=rule.examples,
                        shadow=(rule.mode or spec.mode) == "shadow",
                        model_floors=floors,
                        batch=compile_batch(tree, exception_trees, scope),
                    )
                )  # fmt: skip
        return rules, disabled


__all__ = ["CompiledRule", "PackError", "Phases", "RulePack", "load_packs", "pack_files"]
