# Two entry points do all set-up themselves: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint unit integration bench clean model cv

$(STAMP): pyproject.toml screener/banks/_mih.c screener/state/_rings.c screener/model/_ngrams.c \
		screener/kafka/_records.c
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/screener demo

lint: $(STAMP)
	$(BIN)/ruff check screener tests
	$(BIN)/ruff format --check screener tests
	$(BIN)/mypy screener

test: $(STAMP) lint
	$(BIN)/python -m screener.brokers.kafka --prefetch
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/screener bench engine

# The "trained on your data" model of the README: how a platform trains on its own labelled
# moderation decisions. Here: the tune part of ChineseHarm's dev file (its labels) plus the
# tune parts of everyday benign text (COLD, SWSR, Chinese and English SMS ham); the held parts stay unseen
# for `screener eval`. The data's licences forbid shipping what is derived from it: models/ is
# git-ignored. Use it with `--model models/chineseharm` (scan, eval, run, bench engine).
DATA ?= ../shared/datasets/labelled
MODEL_OUT ?= models/chineseharm
MODEL_RECIPE = $(DATA)/chineseharm_dev.tsv $(DATA)/cold_train.tsv \
		$(DATA)/cold_dev.tsv $(DATA)/swsr_comments.tsv $(DATA)/cn_sms_spam_50k.tsv \
		$(DATA)/en_sms_spam_dev.tsv \
		--part tune --bits 18 --epochs 30 --learning-rate 0.05 --class-power 1.0 --min-ngrams 8 \
		--digit-class --mark-orders 1,2
model: $(STAMP)
	$(BIN)/screener train $(MODEL_RECIPE) \
		--note "make model: tune parts; everyday positives left out; digit class; marks 1,2" --out $(MODEL_OUT)

# How model.yaml's thresholds were chosen (README "Choosing the model's thresholds"): the same
# recipe trained on four of five folds of the tune parts, the fifth screened; then the search.
# Never reads the held parts. About 3 minutes on two cores.
CV_OUT ?= models/cv-oof.jsonl
cv: $(STAMP)
	mkdir -p $(dir $(CV_OUT))
	$(BIN)/python -m screener.measure.crossval run --data $(DATA) --out $(CV_OUT) \
		--recipe "$(MODEL_RECIPE)"
	$(BIN)/python -m screener.measure.crossval search $(CV_OUT)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
