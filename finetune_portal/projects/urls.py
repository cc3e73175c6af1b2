from django.urls import path

from finetune_portal.projects import views

app_name = "projects"

urlpatterns = [
    path("", views.project_list, name="list"),
    path("projects/new/", views.project_new, name="new"),
    path("p/<slug:slug>/", views.project_detail, name="overview"),
    path("audit/", views.site_audit, name="audit_site"),
    path("p/<slug:slug>/budget/", views.project_budget, name="budget"),
    path("p/<slug:slug>/members/", views.project_members, name="members"),
    path("p/<slug:slug>/audit/", views.project_audit, name="audit"),
    path(
        "p/<slug:slug>/members/<int:membership_id>/remove/", views.project_member_remove, name="member_remove"
    ),
]
