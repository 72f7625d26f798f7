from django.urls import path

from tenants.identity import views

urlpatterns = [
    path("", views.profile, name="profile"),
    path("sign-out-everywhere/", views.sign_out_everywhere, name="sign-out-everywhere"),
    path("erase/", views.erase_account, name="erase-account"),
]
