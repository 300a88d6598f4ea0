from tenants.selectors import tenants_for_user


def current_tenant(request):
    """The tenant the user is looking at (set by the tenant views) and the switcher's choices."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "current_tenant": getattr(request, "tenant", None),
        "switchable_tenants": tenants_for_user(user).only("name", "slug")[:50],
    }
