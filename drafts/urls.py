app_name = "drafts"
urlpatterns: list = []  # the wizard's pages (browser UI)
