"""Believable sample data for the built-in catalog, written through the record service.

``xrm serve --demo`` calls :func:`load_demo` so that a fresh installation has something to
browse, filter, aggregate and run workflows on: partners (some with parent partners), Korean
and international customers, their contacts, contracts, assets, grievances and tasks, and the
many-to-many links between them. Everything goes through the audited record service, never
raw SQL, so demo records are validated, normalised, audited and trigger workflows exactly like
real ones. The data depends only on ``seed``, and a second load writes nothing.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from xrm.entities.records import RecordService
    from xrm.platform.identity import Actor

Values = dict[str, Any]

MARKER_EMAIL = "demo-first@hanbit.example"  # the first demo customer: present means loaded
TODAY = dt.date(2025, 7, 1)  # the demo's "today", so statuses never depend on the clock

# fmt: off
KO_HEADS = [("한빛", "hanbit"), ("세종", "sejong"), ("대한", "daehan"), ("미래", "mirae"),
            ("동방", "dongbang"), ("새한", "saehan"), ("서해", "seohae"), ("청솔", "cheongsol"),
            ("한울", "hanul"), ("가온", "gaon"), ("누리", "nuri"), ("다온", "daon"),
            ("태평", "taepyeong"), ("백두", "baekdu"), ("한강", "hangang"), ("금강", "geumgang")]
KO_TAILS = [("전자", "electronics", "manufacturing"), ("물산", "trading", "retail"),
            ("건설", "construction", "construction"), ("정밀", "precision", "manufacturing"),
            ("소프트", "soft", "technology"), ("바이오", "bio", "healthcare"),
            ("식품", "foods", "food"), ("화학", "chemical", "manufacturing"),
            ("물류", "logistics", "logistics"), ("에너지", "energy", "energy"),
            ("캐피탈", "capital", "finance"), ("교육", "edu", "education")]
EN_HEADS = ["Acme", "Globex", "Initech", "Northwind", "Contoso", "Fabrikam", "Tailspin",
            "Vandelay", "Wayfarer", "Bluebird", "Summit", "Redwood", "Ironclad", "Silverline"]
EN_TAILS = [("Industries", "manufacturing"), ("Systems", "technology"), ("Logistics", "logistics"),
            ("Labs", "technology"), ("Retail", "retail"), ("Foods", "food"), ("Energy", "energy"),
            ("Capital", "finance"), ("Health", "healthcare")]
KO_PARTNER_TAILS = [("솔루션즈", "solutions", "integrator"), ("파트너스", "partners", "reseller"),
                    ("컨설팅", "consulting", "consultant"), ("유통", "distribution", "distributor"),
                    ("네트웍스", "networks", "service_provider")]
EN_PARTNER_TAILS = [("Solutions", "integrator"), ("Partners", "reseller"),
                    ("Consulting", "consultant"), ("Distribution", "distributor"),
                    ("Services", "service_provider"), ("Referrals", "referral")]
KO_FAMILY = [("김", "kim"), ("이", "lee"), ("박", "park"), ("최", "choi"), ("정", "jung"),
             ("강", "kang"), ("조", "cho"), ("윤", "yoon"), ("장", "jang"), ("임", "lim"),
             ("한", "han"), ("오", "oh"), ("서", "seo"), ("신", "shin"), ("권", "kwon")]
KO_GIVEN = [("민준", "minjun"), ("서연", "seoyeon"), ("지훈", "jihoon"), ("지우", "jiwoo"),
            ("하은", "haeun"), ("도윤", "doyoon"), ("수아", "sua"), ("예준", "yejun"),
            ("시우", "siwoo"), ("지민", "jimin"), ("서준", "seojun"), ("유나", "yuna"),
            ("은서", "eunseo"), ("현우", "hyunwoo"), ("수빈", "subin")]
EN_FIRST = ["James", "Olivia", "Liam", "Emma", "Noah", "Ava", "Ethan", "Sophia", "Lucas", "Mia",
            "Daniel", "Grace", "Henry", "Chloe", "Samuel"]
EN_LAST = ["Smith", "Johnson", "Brown", "Taylor", "Wilson", "Davies", "Miller", "Clark",
           "Walker", "Hughes", "Turner", "Baker", "Carter", "Evans", "Morgan"]
KO_JOBS = [("대표이사", "경영지원팀"), ("구매팀장", "구매팀"), ("전산팀장", "전산팀"),
           ("과장", "영업팀"), ("대리", "시설관리팀"), ("부장", "경영지원팀"), ("주임", "전산팀")]
EN_JOBS = [("CEO", "Management"), ("Procurement Manager", "Procurement"), ("Head of IT", "IT"),
           ("Account Manager", "Sales"), ("Facilities Lead", "Operations"), ("CFO", "Finance"),
           ("IT Administrator", "IT")]
ADDRESSES = {
    "KR": ["서울특별시 강남구 테헤란로 {n}", "서울특별시 중구 세종대로 {n}",
           "경기도 성남시 분당구 판교역로 {n}", "부산광역시 해운대구 센텀중앙로 {n}",
           "인천광역시 연수구 송도과학로 {n}"],
    "US": ["{n} Market Street, San Francisco, CA", "{n} Madison Avenue, New York, NY"],
    "GB": ["{n} Baker Street, London"],
    "SG": ["{n} Raffles Place, Singapore"],
    "JP": ["Marunouchi 2-{n}, Chiyoda-ku, Tokyo"],
}
TAGS = ["key-account", "export", "newsletter", "reference", "renewal-due", "public-tender"]
CONTRACT_KINDS = [("유지보수 계약", "Maintenance agreement"),
                  ("클라우드 구독", "Cloud subscription"),
                  ("장비 임대 계약", "Equipment lease"), ("기술 지원 계약", "Support agreement"),
                  ("소프트웨어 라이선스", "Software licence"),
                  ("컨설팅 용역", "Consulting services")]
PRODUCTS = [  # maker, model, kind, value in millions of KRW
    ("Dell", "PowerEdge R760", "hardware", 18), ("HPE", "ProLiant DL380 Gen11", "hardware", 21),
    ("Samsung", "Galaxy Book4 Pro", "hardware", 2), ("LG", "gram 16", "hardware", 2),
    ("Cisco", "Catalyst 9300", "equipment", 9), ("Microsoft", "Microsoft 365 E3", "license", 1),
    ("Tmax", "Tibero 7", "software", 30), ("Hanwha", "HCR-5 Cobot", "equipment", 45),
    ("Hyundai", "Porter II", "vehicle", 25), ("Canon", "imageRUNNER C5840", "equipment", 12),
    ("Carrier", "AquaEdge 19DV Chiller", "facility", 160),
]
KO_LOCATIONS = ["본사 전산실", "2층 사무실", "물류센터", "공장 A동", "부산 지점"]
EN_LOCATIONS = ["HQ server room", "2nd floor office", "Warehouse", "Plant A", "Branch office"]
GRIEVANCES = [("서버 장애 복구 지연", "Server outage not fixed in time"),
              ("청구 금액 오류", "Incorrect invoice amount"),
              ("기술 지원 응답 지연", "Slow answers from support"),
              ("계약 내용과 다른 서비스", "Service differs from the contract"),
              ("설치 일정 미준수", "Installation date missed"),
              ("장비 잦은 고장", "Equipment keeps breaking down")]
TASKS = [("계약 갱신 안내 전화", "Renewal call", "call"),
         ("분기 업무 리뷰 미팅", "Quarterly business review", "meeting"),
         ("견적서 발송", "Send the quotation", "email"),
         ("현장 방문 점검", "On-site inspection", "visit"),
         ("민원 처리 결과 회신", "Report the grievance outcome", "follow_up"),
         ("세금계산서 확인", "Check the invoice", "other")]
# fmt: on


def _day(rng: random.Random, start: dt.date, end: dt.date) -> dt.date:
    return start + dt.timedelta(days=rng.randint(0, (end - start).days))


def _years_later(day: dt.date, years: int) -> dt.date:
    """The same day ``years`` later; 29 February becomes 28 February."""
    return day.replace(year=day.year + years, day=min(day.day, 28) if day.month == 2 else day.day)


def _phone(rng: random.Random, country: str, mobile: bool = False) -> str:
    """A number phonenumbers deems valid (its ranges have holes: 010-597x, +65 6623, 694x)."""
    if country == "KR" and mobile:
        middle = rng.randint(2000, 9999)
        return f"010-{middle - 100 if 5970 <= middle <= 5999 else middle}-{rng.randint(1000, 9999)}"
    if country == "KR":
        return (
            f"{rng.choice(['02', '031', '051'])}-{rng.randint(200, 999)}-{rng.randint(1000, 9999)}"
        )
    if country == "US":
        return f"+1 {rng.choice(['415', '212', '312'])} 555 01{rng.randint(0, 99):02d}"
    if country == "GB":
        return f"+44 20 7946 0{rng.randint(0, 999):03d}"
    if country == "SG":
        block = rng.randint(100, 999)
        block = block - 100 if block == 623 or 940 <= block <= 949 else block
        return f"+65 6{block} {rng.randint(1000, 9999)}"
    return f"+81 3-{rng.randint(1000, 9999)}-{rng.randint(1000, 9999)}"


def _companies(rng: random.Random, ko_tails: list[Any], en_tails: list[Any], n: int) -> list[Any]:
    """``n`` distinct (name, domain, is_korean, category) tuples, about 60 % Korean."""
    ko = [(h + t, f"{hs}-{ts}", True, c) for h, hs in KO_HEADS for t, ts, c in ko_tails]
    en = [(f"{h} {t}", f"{h}-{t}".lower(), False, c) for h in EN_HEADS for t, c in en_tails]
    picked = rng.sample(ko, n * 3 // 5) + rng.sample(en, n - n * 3 // 5)
    rng.shuffle(picked)
    return picked


def _money(rng: random.Random, low: int, high: int, unit: int) -> str:
    return f"{rng.randint(low, high) * unit}.00"


STEPS = 9  # calls of ``progress`` in a full load: eight batches of records, then the links


def load_demo(
    service: RecordService,
    actor: Actor,
    *,
    seed: int = 7,
    progress: Callable[[str], None] | None = None,
) -> dict[str, int]:
    """Load the demo records in one transaction; returns how many of each were created.

    ``progress`` hears the name of each batch written (``STEPS`` of them), so a
    command can show how far a load of about a thousand records has come.
    """
    rng = random.Random(seed)
    report = progress or (lambda _step: None)
    with service.session(actor, channel="admin") as s:
        if s.query("customer", filter={"email": {"eq": MARKER_EMAIL}}, first=1).items:
            return {}
        counts: dict[str, int] = {}

        def create(entity: str, rows: list[Values]) -> list[str]:
            created = s.create_many(entity, rows)
            counts[entity] = counts.get(entity, 0) + len(created)
            report(entity)
            return [row["id"] for row in created]

        # Partners: 10 heads of groups, then 30 more, about half of them subsidiaries.
        partners: list[Values] = []
        for name, domain, ko, kind in _companies(rng, KO_PARTNER_TAILS, EN_PARTNER_TAILS, 40):
            country = "KR" if ko else rng.choice(["US", "GB", "SG"])
            partners.append(
                {
                    "name": name,
                    "kind": kind,
                    "email": f"partners@{domain}.example",
                    "phone": _phone(rng, country),
                    "website": f"https://www.{domain}.example/",
                    "country": country,
                    "since": _day(rng, dt.date(2019, 1, 1), TODAY).isoformat(),
                    "status": rng.choices(["active", "prospect", "inactive"], [8, 1, 1])[0],
                    "commission_rate": f"{rng.choice([5, 7.5, 10, 12, 15])}",
                }
            )
        partner_ids = create("partner", partners[:10])
        for p in partners[10:]:
            if rng.random() < 0.5:
                p["parent"] = rng.choice(partner_ids)
        partner_ids += create("partner", partners[10:])

        # Customers; the first one is the marker that makes a second load a no-op.
        customers: list[Values] = []
        pool = [c for c in _companies(rng, KO_TAILS, EN_TAILS, 120) if c[0] != "한빛전자"]
        first = ("한빛전자", "hanbit-electronics", True, "manufacturing")
        for i, (name, domain, ko, industry) in enumerate([first, *pool[:119]]):
            country = "KR" if ko else rng.choice(["US", "US", "GB", "SG", "JP"])
            email = f"{rng.choice(['info', 'sales'])}@{domain}.example" if i else MARKER_EMAIL
            customers.append(
                {
                    "name": name,
                    "industry": industry,
                    "country": country,
                    "email": email,
                    "phone": _phone(rng, country),
                    "website": f"https://{domain}.example/",
                    "tier": rng.choices(["standard", "gold", "vip"], [6, 3, 1])[0],
                    "revenue": _money(rng, 5, 2000, 100_000_000),  # KRW
                    "since": _day(rng, dt.date(2016, 1, 1), dt.date(2023, 12, 31)).isoformat(),
                    "tags": rng.sample(TAGS, rng.randint(0, 2)),
                    "partner": rng.choice(partner_ids) if rng.random() < 0.4 else None,
                    "address": rng.choice(ADDRESSES[country]).format(n=rng.randint(1, 300)),
                    "employee_count": rng.choice([12, 45, 120, 350, 800, 2400, 9000]),
                }
            )
        customer_ids = create("customer", customers)
        n_customers = len(customers)

        # Contacts: one primary contact per customer, then more at random customers.
        contacts: list[Values] = []
        by_customer: dict[str, dict[int, list[int]]] = {"contact": {}, "contract": {}, "asset": {}}
        for i in range(200):
            c = i if i < n_customers else rng.randrange(n_customers)
            country = customers[c]["country"]
            domain = customers[c]["website"].split("//")[1].rstrip("/")
            if (country == "KR") == (rng.random() < 0.9):
                (family, fam), (given, giv) = rng.choice(KO_FAMILY), rng.choice(KO_GIVEN)
                full, job = family + given, rng.choice(KO_JOBS)
                lang = "ko"
            else:
                given, family = rng.choice(EN_FIRST), rng.choice(EN_LAST)
                giv, fam = given, family  # the e-mail spelling: the name itself
                full, job, lang = f"{given} {family}", rng.choice(EN_JOBS), "en"
            contacts.append(
                {
                    "full_name": full,
                    "first_name": given,
                    "last_name": family,
                    "language": lang,
                    "email": f"{giv}.{fam}{i}@{domain}".lower(),
                    "customer": customer_ids[c],
                    "phone": _phone(rng, country),
                    "mobile": _phone(rng, country, mobile=True),
                    "job_title": job[0],
                    "department": job[1],
                    "is_primary": i < n_customers,
                }
            )
            by_customer["contact"].setdefault(c, []).append(i)
        contact_ids = create("contact", contacts)

        # Contracts: dates 2024-2026; the status follows the dates as of TODAY.
        contracts: list[Values] = []
        contract_customer: list[int] = []
        for i in range(150):
            c = rng.randrange(n_customers)
            ko = customers[c]["country"] == "KR"
            start = _day(rng, dt.date(2024, 1, 1), dt.date(2026, 6, 30))
            end = _years_later(start, rng.randint(1, 3)) - dt.timedelta(days=1)
            if start > TODAY:
                status = "draft"
            elif end < TODAY:
                status = rng.choices(["expired", "terminated"], [5, 1])[0]
            else:
                status = rng.choices(["active", "terminated"], [12, 1])[0]
            kind = rng.choice(CONTRACT_KINDS)[0 if ko else 1]
            own_partner = customers[c]["partner"]
            signed = start - dt.timedelta(days=rng.randint(3, 40))
            contracts.append(
                {
                    "title": f"{customers[c]['name']} {kind} ({start.year})",
                    "customer": customer_ids[c],
                    "partner": own_partner if rng.random() < 0.7 else None,
                    "status": status,
                    "start_date": start.isoformat(),
                    "end_date": end.isoformat(),
                    "signed_on": None if status == "draft" else signed.isoformat(),
                    "value": _money(rng, 5, 500, 1_000_000) if ko else _money(rng, 50, 4000, 100),
                    "currency": "KRW" if ko else "USD",
                    "auto_renew": rng.random() < 0.4,
                    "billing_cycle": rng.choice(["one_time", "monthly", "quarterly", "yearly"]),
                }
            )
            by_customer["contract"].setdefault(c, []).append(i)
            contract_customer.append(c)
        contract_ids = create("contract", contracts)

        # Assets: most belong to a customer; those in stock belong to no one yet.
        assets: list[Values] = []
        asset_customer: list[int | None] = []
        serials: set[str] = set()
        for i in range(200):
            maker, model, kind, millions = rng.choice(PRODUCTS)
            while (serial := f"{maker[:2].upper()}{rng.randint(10**7, 10**8 - 1)}") in serials:
                pass
            serials.add(serial)
            bought = _day(rng, dt.date(2024, 1, 1), TODAY)
            holder = rng.randrange(n_customers) if rng.random() < 0.9 else None
            ko = holder is None or customers[holder]["country"] == "KR"
            warranty = _years_later(bought, rng.randint(1, 3))
            status = rng.choices(["active", "in_repair", "retired", "lost"], [16, 2, 2, 1])[0]
            assets.append(
                {
                    "name": f"{maker} {model}",
                    "kind": kind,
                    "manufacturer": maker,
                    "model": model,
                    "serial_number": serial,
                    "purchase_date": bought.isoformat(),
                    "warranty_until": warranty.isoformat(),
                    "value": _money(rng, millions * 80, millions * 120, 10_000),
                    "customer": None if holder is None else customer_ids[holder],
                    "status": "in_stock" if holder is None else status,
                    "location": rng.choice(KO_LOCATIONS if ko else EN_LOCATIONS),
                }
            )
            asset_customer.append(holder)
            if holder is not None:
                by_customer["asset"].setdefault(holder, []).append(i)
        asset_ids = create("asset", assets)

        # Grievances, raised by a customer and often by one of its contacts.
        grievances: list[Values] = []
        grievance_customer: list[int] = []
        grievance_due: list[dt.date] = []
        for _ in range(60):
            c = rng.choice(list(by_customer["contract"]))
            ko = customers[c]["country"] == "KR"
            ct = rng.choice(by_customer["contact"][c]) if rng.random() < 0.7 else None
            subject = rng.choice(GRIEVANCES)[0 if ko else 1]
            who = customers[c]["name"] if ct is None else contacts[ct]["full_name"]
            severity = rng.choices(["low", "medium", "high", "critical"], [3, 4, 2, 1])[0]
            status = rng.choices(
                ["open", "in_progress", "escalated", "resolved", "closed"], [3, 3, 2, 4, 5]
            )[0]
            tz = dt.timezone(dt.timedelta(hours=9)) if ko else dt.UTC
            day = _day(rng, dt.date(2024, 2, 1), TODAY)
            raised = dt.datetime.combine(
                day,
                dt.time(rng.randint(8, 18), rng.choice([0, 15, 30, 45])),
                tz,
            )
            days = {"critical": 1, "high": 3, "medium": 7, "low": 14}[severity]
            done = status in ("resolved", "closed")
            resolved = raised + dt.timedelta(hours=rng.randint(4, 400))
            if ko:
                text = f"{who} 측 제기: {subject}. 빠른 확인과 조치를 요청함."
                resolution = "원인 조치 후 고객에게 결과 안내함."
            else:
                text = f"Raised by {who}: {subject.lower()}. They ask for a quick fix."
                resolution = "Root cause fixed; the customer was told."
            started = [
                k for k in by_customer["contract"][c] if contracts[k]["start_date"] <= str(day)
            ]
            contract = rng.choice(started) if started and rng.random() < 0.6 else None
            own_assets = by_customer["asset"].get(c, [])
            asset = rng.choice(own_assets) if own_assets and rng.random() < 0.4 else None
            grievances.append(
                {
                    "subject": subject,
                    "severity": severity,
                    "status": status,
                    "channel": rng.choice(["phone", "email", "web", "visit", "letter", "partner"]),
                    "description": text,
                    "raised_at": raised.isoformat(),
                    "due_date": (raised.date() + dt.timedelta(days=days)).isoformat(),
                    "resolved_at": resolved.isoformat() if done else None,
                    "resolution": resolution if done else None,
                    "customer": customer_ids[c],
                    "contact": None if ct is None else contact_ids[ct],
                    "contract": None if contract is None else contract_ids[contract],
                    "asset": None if asset is None else asset_ids[asset],
                }
            )
            grievance_customer.append(c)
            grievance_due.append(raised.date() + dt.timedelta(days=days))
        grievance_ids = create("grievance", grievances)

        # Tasks: follow-ups of grievances, then customer work, some tied to a contract.
        tasks: list[Values] = []
        for i in range(150):
            g = i if i < 40 else None
            c = grievance_customer[i] if g is not None else rng.randrange(n_customers)
            ko = customers[c]["country"] == "KR"
            title_ko, title_en, kind = TASKS[4] if g is not None else rng.choice(TASKS)
            due = (
                _day(rng, dt.date(2024, 2, 1), dt.date(2026, 3, 31))
                if g is None
                else grievance_due[g]
            )
            if due < TODAY:
                status = rng.choices(["done", "cancelled", "in_progress", "todo"], [7, 1, 1, 1])[0]
            else:
                status = rng.choices(["todo", "in_progress"], [7, 3])[0]
            finished = dt.datetime.combine(
                due - dt.timedelta(days=rng.randint(0, 5)), dt.time(rng.randint(9, 18)), dt.UTC
            )
            own_contracts = by_customer["contract"].get(c, [])
            contract = rng.choice(own_contracts) if own_contracts and rng.random() < 0.4 else None
            contact = rng.choice(by_customer["contact"][c]) if rng.random() < 0.5 else None
            tasks.append(
                {
                    "title": title_ko if ko else title_en,
                    "kind": kind,
                    "due_date": due.isoformat(),
                    "status": status,
                    "customer": customer_ids[c],
                    "priority": rng.choices(["low", "normal", "high", "urgent"], [2, 5, 2, 1])[0],
                    "completed_at": finished.isoformat() if status == "done" else None,
                    "grievance": None if g is None else grievance_ids[g],
                    "contact": None if contact is None else contact_ids[contact],
                    "contract": None if contract is None else contract_ids[contract],
                }
            )
        create("task", tasks)

        # Many-to-many links.
        links = 0
        for a, holder in enumerate(asset_customer):
            if holder is None or holder not in by_customer["contract"] or rng.random() < 0.25:
                continue
            k = rng.choice(by_customer["contract"][holder])
            since = max(assets[a]["purchase_date"], contracts[k]["start_date"])
            coverage = rng.choices(["full", "partial", "parts_only", "labor_only"], [5, 2, 1, 1])[0]
            values = {"coverage": coverage, "since": since}
            s.link("contract_assets", contract_ids[k], asset_ids[a], values)
            links += 1
        for k, c in enumerate(contract_customer):
            people = by_customer["contact"].get(c, [])
            for n, ct in enumerate(rng.sample(people, min(len(people), rng.randint(1, 2)))):
                role = "signatory" if n == 0 else rng.choice(["billing", "technical", "other"])
                s.link("contract_contacts", contract_ids[k], contact_ids[ct], {"role": role})
                links += 1
        pairs: set[tuple[int, int]] = set()
        while len(pairs) < 30:
            a, b = rng.sample(range(n_customers), 2)
            if (a, b) in pairs or (b, a) in pairs:
                continue
            pairs.add((a, b))
            kind = rng.choice(["subsidiary", "affiliate", "competitor", "supplier"])
            s.link("customer_relations", customer_ids[a], customer_ids[b], {"relation_kind": kind})
            links += 1
        counts["links"] = links
        report("links")
        return counts
