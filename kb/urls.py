app_name = "kb"
urlpatterns: list = []  # knowledge-base pages (browser UI)
