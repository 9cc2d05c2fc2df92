"""The pages' forms (Flask-WTF: each carries its CSRF token). Labels are translated lazily (Flask-Babel)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, MultipleFileField
from wtforms import BooleanField, HiddenField, IntegerField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, Regexp

try:  # WTForms ≥ 3.3 names its options; plain pairs are deprecated there
    from wtforms.fields.choices import SelectChoice
except ImportError:  # pragma: no cover - older WTForms
    SelectChoice = None


def options(pairs: list) -> list:
    return [SelectChoice(v, label) for v, label in pairs] if SelectChoice else list(pairs)

ROLE_CHOICES = options([("official", _l("Official")), ("clerk", _l("Clerk")), ("auditor", _l("Auditor")),
                ("admin", _l("Administrator"))])
REVOCATION_REASONS = ["unspecified", "keyCompromise", "affiliationChanged", "superseded", "cessationOfOperation",
                      "certificateHold", "privilegeWithdrawn"]
LEVELS = ["B-B", "B-T", "B-LT", "B-LTA"]
APPEARANCES = options([("signer", _l("Signer: title, signature image, name")), ("seal", _l("Agency seal")),
               ("attachment", _l("Attached document (clerk)")), ("copy", _l("Electronic copy (clerk)")),
               ("none", _l("Invisible"))])
ALGORITHMS = ["rsa2048", "rsa3072", "rsa4096", "ec-p256", "ec-p384"]


class LoginForm(FlaskForm):
    username = StringField(_l("User name"), validators=[DataRequired(), Length(max=64)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=256)])
    next = HiddenField()


class EmptyForm(FlaskForm):
    """A button that changes state: only the CSRF token."""


class UserForm(FlaskForm):
    username = StringField(_l("User name"), validators=[DataRequired(), Length(min=2, max=64)])
    full_name = StringField(_l("Full name"), validators=[Optional(), Length(max=200)])
    org = StringField(_l("Organisation"), validators=[Optional(), Length(max=200)])
    role = SelectField(_l("Role"), choices=ROLE_CHOICES)
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(min=8, max=256)])


class UserUpdateForm(FlaskForm):
    role = SelectField(_l("Role"), choices=ROLE_CHOICES)
    active = BooleanField(_l("Active"))


class PasswordForm(FlaskForm):
    password = PasswordField(_l("New password"), validators=[DataRequired(), Length(min=8, max=256)])


class IssueForm(FlaskForm):
    profile = SelectField(_l("Profile"), choices=options([("official", _l("Official (natural person)")),
                                                          ("agency", _l("Agency seal (legal person)"))]))
    cn = StringField(_l("Full name / agency name (CN)"), validators=[DataRequired(), Length(max=64)])
    o = StringField(_l("Organisation (O)"), validators=[Optional(), Length(max=64)])
    ou = StringField(_l("Unit (OU)"), validators=[Optional(), Length(max=64)])
    title = StringField(_l("Position title (T)"), validators=[Optional(), Length(max=64)])
    l = StringField(_l("Locality (L)"), validators=[Optional(), Length(max=128)])  # noqa: E741
    st = StringField(_l("Province (ST)"), validators=[Optional(), Length(max=128)])
    email = StringField(_l("E-mail"), validators=[Optional(), Length(max=128)])
    uid = StringField(_l("Identifiers (UID), e.g. CCCD:048190000123, comma separated"),
                      validators=[Optional(), Length(max=300)])
    mode = SelectField(_l("Key"), choices=options([("keygen", _l("Generate the key in the HSM")),
                                                   ("csr", _l("Paste a certificate signing request (CSR)"))]))
    algorithm = SelectField(_l("Algorithm"), choices=options([(a, a) for a in ALGORITHMS]), default="rsa2048")
    owner = SelectField(_l("Owner (kyso user)"), choices=[], validate_choice=False)
    csr = TextAreaField(_l("CSR (PEM)"), validators=[Optional(), Length(max=64 * 1024)])


class SearchForm(FlaskForm):
    class Meta:
        csrf = False  # a GET search changes nothing

    q = StringField(_l("Name or serial"), validators=[Optional(), Length(max=100)])
    status = SelectField(_l("Status"), choices=options([("", _l("All")), ("valid", _l("Valid")),
                                                        ("revoked", _l("Revoked")), ("expired", _l("Expired"))]),
                         validate_choice=False)


class RevokeForm(FlaskForm):
    reason = SelectField(_l("Reason"), choices=options([(r, r) for r in REVOCATION_REASONS]))


class TotpForm(FlaskForm):
    code = StringField(_l("6-digit code from the app"), validators=[DataRequired(), Regexp(r"^\s*\d{6}\s*$")])
    password = PasswordField(_l("Your password"), validators=[DataRequired(), Length(max=256)])


class SignatureImageForm(FlaskForm):
    image = FileField(_l("Image (PNG, transparent background)"))


class TokenForm(FlaskForm):
    name = StringField(_l("Name of the token"), validators=[Optional(), Length(max=100)])


class SignForm(FlaskForm):
    files = MultipleFileField(_l("PDF documents"))
    level = SelectField(_l("Signature level"), choices=options([(lv, lv) for lv in LEVELS]), default="B-LT")
    appearance = SelectField(_l("Appearance"), choices=APPEARANCES, default="signer")
    page = IntegerField(_l("Page"), default=1, validators=[Optional()])
    box = StringField(_l("Position (x1,y1,x2,y2 in points)"),
                      validators=[Optional(), Regexp(r"^\s*-?\d+(\.\d+)?(\s*,\s*-?\d+(\.\d+)?){3}\s*$")])
    reason = StringField(_l("Reason"), validators=[Optional(), Length(max=200)])
    location = StringField(_l("Location"), validators=[Optional(), Length(max=200)])
    doc_number = StringField(_l("Document number and symbol"), validators=[Optional(), Length(max=100)])
    copy_form = SelectField(_l("Copy form"), choices=options([("SAO Y", "SAO Y"), ("SAO LỤC", "SAO LỤC"),
                                                              ("TRÍCH SAO", "TRÍCH SAO")]), default="SAO Y")
    otp = StringField(_l("TOTP code"), validators=[Optional(), Regexp(r"^\s*\d{6}\s*$")])


class VerifyForm(FlaskForm):
    file = FileField(_l("Signed PDF"))
