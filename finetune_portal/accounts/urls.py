from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from finetune_portal.accounts import views

app_name = "accounts"

# Password reset and "set your password" (for accounts a site admin created) are Django's own views;
# only the templates are the portal's.
urlpatterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(template_name="accounts/login.html", redirect_authenticated_user=True),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("profile/", views.profile, name="profile"),
    path("password/", views.PasswordChangeView.as_view(), name="password_change"),
    path(
        "password/reset/",
        auth_views.PasswordResetView.as_view(
            template_name="accounts/password_reset.html",
            email_template_name="accounts/email/password_reset.txt",
            subject_template_name="accounts/email/password_reset_subject.txt",
            success_url=reverse_lazy("accounts:password_reset_done"),
        ),
        name="password_reset",
    ),
    path(
        "password/reset/sent/",
        auth_views.PasswordResetDoneView.as_view(template_name="accounts/password_reset_done.html"),
        name="password_reset_done",
    ),
    path(
        "password/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(
            template_name="accounts/password_set.html",
            success_url=reverse_lazy("accounts:password_reset_complete"),
        ),
        name="password_reset_confirm",
    ),
    path(
        "password/reset/done/",
        auth_views.PasswordResetCompleteView.as_view(template_name="accounts/password_set_done.html"),
        name="password_reset_complete",
    ),
    path("invitation/<str:token>/", views.invitation_view, name="invitation"),
    path("users/new/", views.user_new, name="user_new"),
    path("project/<slug:slug>/invitations/", views.invite, name="invite"),
    path(
        "project/<slug:slug>/invitations/<int:invitation_id>/withdraw/",
        views.invitation_revoke_view,
        name="invitation_revoke",
    ),
]
