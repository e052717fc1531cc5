# Sourced by bin/run: on a first run, load a model. LEADFLOW_MODEL names the company's own
# model file (imported live: score groups, rules, scorecards, event types, account groups,
# sequences, teams and routing, whichever it holds); without it, the toy store and, on the
# embedded defaults, its demo history. Nothing is loaded over a model already there.
if [ -n "${LEADFLOW_MODEL:-}" ]; then
    # The toy store is not loaded beside it: its sequences and routing would hold on to the
    # toy store's groups, and the company's own file could not leave them out.
    # A relative path is read from where bin/run was started, as whoever typed it meant.
    case "$LEADFLOW_MODEL" in
        /*) _model="$LEADFLOW_MODEL" ;;
        *) _model="${started_in:-$PWD}/$LEADFLOW_MODEL" ;;
    esac
    python manage.py scoring_model_import --if-empty --publish "$_model"
    unset _model
else
    # The toy store in the site's language: examples/es/ holds the same model in Spanish.
    _examples=examples
    case "${LEADFLOW_LANGUAGE:-en}" in es*) _examples=examples/es ;; esac
    python manage.py scoring_model_import --if-empty --publish "$_examples/toy_store.yaml"
    python manage.py nurture_sequences_import --if-empty "$_examples/toy_store_nurture.yaml"
    python manage.py scoring_model_import --if-empty --publish "$_examples/toy_store_routing.yaml"
    unset _examples
    # Something to look at: a first run of the embedded defaults (no DATABASE_URL, no lead yet)
    # gets 90 days of the toy store's history (manage.py demo_history loads it anywhere).
    if [ "${LEADFLOW_DEMO_LEADS:-3000}" != 0 ]; then
        python manage.py demo_history --first-run --leads "${LEADFLOW_DEMO_LEADS:-3000}"
    fi
fi
