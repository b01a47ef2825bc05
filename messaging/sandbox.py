"""The only tags and filters message templates may use: Django's own, minus anything that reads
beyond the context (`load`, `include`, `extends`, `url`, `debug`) or can make a huge text from a
small template (`lorem`, `rjust`, `ljust`, `center`, `stringformat`, `floatformat`, `widthratio`)."""

from django.template import Library, defaultfilters, defaulttags

register = Library()

TAGS = ("if", "for", "empty", "with", "firstof", "comment", "now", "spaceless", "cycle", "ifchanged")
FILTERS = (
    "add", "capfirst", "cut", "date", "default", "default_if_none", "first", "join", "last",
    "length", "linebreaksbr", "lower", "pluralize", "slice", "time", "title", "truncatechars",
    "truncatewords", "upper", "urlencode", "yesno",
)  # fmt: skip

for name in TAGS:
    if name in defaulttags.register.tags:
        register.tags[name] = defaulttags.register.tags[name]
for name in FILTERS:
    register.filters[name] = defaultfilters.register.filters[name]
