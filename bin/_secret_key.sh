# Sourced by bin/run: DJANGO_SECRET_KEY from the environment, else the installation's
# own key, made once and kept in the var folder (readable by its owner only).
if [ -z "${DJANGO_SECRET_KEY:-}" ]; then
    _key_file="${LEADFLOW_VAR_DIR:-var}/secret-key.txt"
    if [ ! -s "$_key_file" ]; then
        mkdir -p "$(dirname "$_key_file")"
        # Written whole under another name, then renamed: a key is never read half-written.
        (umask 077 && python -c 'import secrets; print(secrets.token_urlsafe(50))' >"$_key_file.new" \
            && mv "$_key_file.new" "$_key_file")
        echo "Leadflow: made a secret key in $_key_file (keep it: signed links and sessions depend on it)"
    fi
    chmod 600 "$_key_file"
    DJANGO_SECRET_KEY="$(cat "$_key_file")"
    export DJANGO_SECRET_KEY
    unset _key_file
fi
