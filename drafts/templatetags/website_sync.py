"""{% website_sources_of kb as sources %}: the KB page's website sources (templates/kb/_website_sources.html).

A tag, because the KB page's view lives in kb, which must not import drafts; the template can. The KB comes
from that view, which got it through the access funnel."""

from django import template

from drafts.sync.selectors import website_sources_for_kb

register = template.Library()


@register.simple_tag
def website_sources_of(kb):
    return list(website_sources_for_kb(kb=kb))
