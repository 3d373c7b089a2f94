"""The [sso] table: single sign-on to the dashboard with OpenID Connect (read by local_service/sso.py; declared here
because rules/config.py assembles the whole file's schema).

Each [[sso.providers]] is one provider (Microsoft Entra ID, Google Workspace, or any OpenID provider) with an
allow-list of who may sign in through it: Entra's tenants (its multi-tenant metadata names "{tenantid}" as the
issuer, so each token is checked against the issuer of the tenant it says it comes from, and that tenant must be
listed), Google Workspace's domains (the `hd` claim), or a plain provider's issuers. A signed-in person gets the roles
of the named account with their e-mail address (postguard account add) and of each [[sso.groups]] their token's
group claim lists.
"""
from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from .schema import Label, NonBlank, PathValue, Str, Table

REVIEWER_ROLES = ("trust_admin", "school_it", "dsl", "headteacher", "dpo", "reporting")  # local_service/accounts.py
METADATA = {  # each kind's discovery document when metadata_url is empty
    "entra": "https://login.microsoftonline.com/organizations/v2.0/.well-known/openid-configuration",
    "google": "https://accounts.google.com/.well-known/openid-configuration",
}


def _name(value: str) -> str:
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,30}", value):
        raise ValueError(f"a provider name is 1 to 31 lower-case letters, digits and dashes: {value!r}")
    return value


def _tenant(value: str) -> str:
    value = value.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", value):
        raise ValueError(f"an Entra tenant is its id (a GUID), not a name: {value!r}")
    return value


ProviderName = Annotated[str, AfterValidator(_name), Label("provider name (a-z, 0-9, -)")]
Tenant = Annotated[str, AfterValidator(_tenant), Label("tenant id (GUID)")]
Role = Annotated[Literal[REVIEWER_ROLES], Label(", ".join(f'"{r}"' for r in REVIEWER_ROLES))]


class SsoProvider(Table):
    """One OpenID Connect provider reviewers sign in with."""

    name: ProviderName = Field(description="Its name in the dashboard's addresses (/admin/sso/NAME/...) and in "
                                           "[[sso.groups]].", json_schema_extra={"examples": ["entra"]})
    kind: Annotated[Literal["entra", "google", "oidc"], Label('"entra", "google" or "oidc"')] = Field(
        description="entra: Microsoft Entra ID (tenants required); google: Google Workspace (hosted_domains "
                    "required); oidc: any other OpenID provider (issuers and metadata_url required).",
        json_schema_extra={"examples": ["entra"]})
    label: Str = Field("", description="The sign-in button's words after \"Sign in with\" (default: Microsoft, "
                                       "Google, or the name).")
    client_id: NonBlank = Field(description="The application (client) id the provider gave PostGuard.",
                                json_schema_extra={"examples": ["7f1c2a9e-0d4b-4c1e-9a57-1b2c3d4e5f60"]})
    client_secret_file: PathValue | None = Field(None, description="A file holding the client secret (its first "
                                                                   "line), readable by PostGuard only.",
                                                 json_schema_extra={"examples": ["/etc/postguard/entra-secret"]})
    metadata_url: Str = Field("", description="The provider's discovery document (.well-known/openid-configuration); "
                                              "default for entra: its multi-tenant (organizations) one; for google: "
                                              "Google's.")
    tenants: list[Tenant] = Field(default_factory=list, description="entra: the tenant ids whose people may sign in "
                                                                    "(each token's tid, and its issuer for that "
                                                                    "tenant).",
                                  json_schema_extra={"examples": [["72f988bf-86f1-41af-91ab-2d7cd011db47"]]})
    hosted_domains: list[NonBlank] = Field(default_factory=list, description="google: the Workspace domains whose "
                                                                             "people may sign in (the hd claim).",
                                           json_schema_extra={"examples": [["stmarys-angels.sch.uk"]]})
    issuers: list[NonBlank] = Field(default_factory=list, description="oidc: the issuers whose tokens are accepted.",
                                    json_schema_extra={"examples": [["https://id.trust.example"]]})
    email_claim: NonBlank = Field("email", description="The claim holding the person's e-mail address (Entra: "
                                                       "email, or preferred_username for the sign-in name).")
    groups_claim: NonBlank = Field("groups", description="The claim listing the person's groups (Entra: groups, "
                                                         "the groups' object ids).")

    @model_validator(mode="after")
    def _allow_list(self):
        need = {"entra": ("tenants", self.tenants), "google": ("hosted_domains", self.hosted_domains),
                "oidc": ("issuers", self.issuers)}[self.kind]
        if not need[1]:
            raise ValueError(f"a {self.kind} provider needs {need[0]}: who may sign in through it")
        if self.kind == "oidc" and not self.metadata_url:
            raise ValueError("an oidc provider needs metadata_url")
        return self


class SsoGroup(Table):
    """A role for everybody whose token lists a group."""

    provider: ProviderName = Field(description="The [[sso.providers]] name whose tokens carry the group.",
                                   json_schema_extra={"examples": ["entra"]})
    group: NonBlank = Field(description="The group as the token's group claim lists it (Entra: the group's object "
                                        "id).",
                            json_schema_extra={"examples": ["3b0c4f3e-5e3a-4b8e-9f0e-6a7d1c2b3a4f"]})
    role: Role = Field(description="The role its members get.", json_schema_extra={"examples": ["dsl"]})
    schools: list[NonBlank] = Field(default_factory=list, description="The schools the role is for; empty: every "
                                                                      "school.",
                                    json_schema_extra={"examples": [["St Mary of the Angels"]]})


class Sso(Table):
    """Single sign-on to the dashboard with OpenID Connect (Microsoft Entra ID, Google Workspace): who may sign in
    through which provider, and the roles of groups. Password accounts (postguard account) work alongside."""

    providers: list[SsoProvider] = Field(default_factory=list, description="The providers; one [[sso.providers]] "
                                                                           "table each.")
    groups: list[SsoGroup] = Field(default_factory=list, description="Roles given by group; one [[sso.groups]] "
                                                                     "table each.")

    @model_validator(mode="after")
    def _known_providers(self):
        names = [p.name for p in self.providers]
        if len(set(names)) != len(names):
            raise ValueError("two providers have the same name")
        for g in self.groups:
            if g.provider not in names:
                raise ValueError(f"sso.groups names provider {g.provider!r}, which is not in sso.providers")
        return self
