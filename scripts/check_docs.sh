#!/usr/bin/env bash
# Check the documentation: build the site in mkdocs strict mode (a broken link or anchor, a nav entry
# without its page, an API reference that does not resolve or a docstring that does not parse fails it),
# then run tests/test_docs.py (the strict build again, and the quickstart's code against its printed output).
#
#     pip install -e ".[docs,test]" && bash scripts/check_docs.sh [SITE_DIR]
#
# SITE_DIR defaults to site/ (git-ignored). After a deliberate change to what the quickstart prints, refresh
# its output blocks with: python tests/test_docs.py --update-quickstart
set -euo pipefail
cd "$(dirname "$0")/.."
if ! python -c "import mkdocs, material, mkdocstrings_handlers.python" 2>/dev/null; then
    echo "check_docs.sh: the docs extra is not installed; run: pip install -e \".[docs,test]\"" >&2
    exit 2
fi
NO_MKDOCS_2_WARNING=1 python -m mkdocs build --strict --site-dir "${1:-site}"
python -m pytest tests/test_docs.py -q -p no:cacheprovider
