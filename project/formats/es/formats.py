"""Spanish figures with a dot between thousands ("12.345,5"), as the charts write them
(the browser's own Spanish), instead of Django's non-breaking space; dates are Django's
Spanish ("03/12/2026 14:05")."""

THOUSAND_SEPARATOR = "."
