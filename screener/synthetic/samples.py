"""Generate the sample traffic in seeds/events/ (deterministic: same seed, same bytes).

    python -m screener.synthetic.samples            # rewrites seeds/events/{chat,microblog}.jsonl
    python -m screener.synthetic.samples --check    # also screens them and prints a summary

Long: the sample events' templates, evasions and threads, in one place so that the shipped
samples stay byte-identical (a unit test regenerates them). Writing into seeds/events needs a
source checkout; anywhere else pass `--out DIR`.

The events follow the Event contract in DESIGN.md. Most are everyday chat and microblog posts
in Chinese and English (including innocent look-alikes of the listed terms: 快餐店300米外,
上门维修, 冷得瑟瑟发抖, 德州扑克的规则); a realistic minority are violations built from the
seed report's cases, written with the evasions offenders use:

- a WeChat ring that recruits women and organises prostitution (Foshan, 17 suspects) and one
  that organises deals and then blackmails the clients (Harbin) — group adverts with prices and
  contacts, direct-message threats;
- a microblog account that floods obscene images (Dongguan: 8,951 images, a million visits) —
  one young account posting image grids with tease words and very high visit counts;
- adverts with contact details for fake followers, SMS blasting, "part-time" scams, gambling
  and loans;
- abuse.

Contacts are fictitious and obfuscated the ways listed in DESIGN.md (加V信, 加 微 信, 薇❤信, ｖｘ,
Ｖ信, 威信, jia wei xin, 1⃣8⃣8⃣…, 壹捌捌…, 约-炮, 約炮, ⓠⓠ, zero-width characters). Only the
standard library is needed to generate; `--check` screens them with the shipped packs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

SEEDS = Path(__file__).resolve().parents[2] / "seeds"
"""seeds/ of the source checkout this module runs from (absent in an installed package)."""
DEFAULT_SEED = 20140825  # the Foshan arrests, 25 Aug
START = datetime(2024, 8, 25, 8, 0, 0, tzinfo=timezone(timedelta(hours=8)))
ZWSP = "\u200b"

Event = dict[str, Any]

# --- obfuscation: how offenders write contacts and keywords -----------------------------------

_FULLWIDTH = {chr(c): chr(c + 0xFEE0) for c in range(0x21, 0x7F)}
_CIRCLED = {c: chr(0x24D0 + ord(c) - ord("a")) for c in "abcdefghijklmnopqrstuvwxyz"}
_FINANCIAL = dict(zip("0123456789", "零壹贰叁肆伍陆柒捌玖", strict=True))
_CHINESE = dict(zip("0123456789", "〇一二三四五六七八九", strict=True))


def fullwidth(s: str) -> str:
    return "".join(_FULLWIDTH.get(c, c) for c in s)


def circled(s: str) -> str:
    return "".join(_CIRCLED.get(c, c) for c in s.lower())


def keycap(digits: str) -> str:
    return "".join(d + "\u20e3" if d.isdigit() else d for d in digits)


def zero_width(s: str) -> str:
    return ZWSP.join(s)


def spaced(s: str, sep: str = " ") -> str:
    return sep.join(s)


@dataclass
class Faker:
    """Deterministic fake values, all drawn from one `random.Random`."""

    rng: random.Random

    def pick(self, items: Sequence[str]) -> str:
        return self.rng.choice(items)

    def phone(self) -> str:
        return self.pick(["138", "139", "188", "186", "159"]) + "".join(
            self.rng.choice("0123456789") for _ in range(8)
        )

    def qq(self) -> str:
        return str(self.rng.randint(10_000_000, 3_999_999_999))

    def wechat_id(self) -> str:
        stem = self.pick(["mm", "xiao", "lucky", "vip", "tian", "meimei", "kk", "ace"])
        return f"{stem}_{self.rng.randint(100, 99999)}"

    def domain(self) -> str:
        label = "".join(self.rng.choice("abcdefghjkmnpqrstuvwxyz23456789") for _ in range(5))
        return f"{label}.{self.pick(['top', 'vip', 'xyz', 'cc'])}"

    def hexdigits(self, n: int) -> str:
        return "".join(self.rng.choice("0123456789abcdef") for _ in range(n))

    # Contacts as adverts write them: a channel word in one of its disguises, then an id.
    def wechat(self) -> str:
        channel = self.pick(["加V信", "加 微 信", "加薇❤信", "ｖｘ", "Ｖ信", "威信", "jia wei xin",
                             "加微", "v❤", "薇"])  # fmt: skip
        return f"{channel}：{self.wechat_id()}"

    def phone_obfuscated(self) -> str:
        number = self.phone()
        style = self.rng.randrange(5)
        if style == 0:
            return keycap(number)
        if style == 1:
            return "".join(_FINANCIAL[d] for d in number)
        if style == 2:
            return "".join(_CHINESE[d] for d in number)
        if style == 3:
            return f"{number[:3]} {number[3:7]} {number[7:]}"
        return fullwidth(number)

    def qq_obfuscated(self) -> str:
        label = self.pick(["ⓠⓠ", "扣扣", "企鹅", "Q", "ＱＱ", "qq"])
        return f"{label} {self.qq()}"

    def contact(self) -> str:
        return self.rng.choice([self.wechat, self.phone_obfuscated, self.qq_obfuscated])()


# --- everyday traffic ---------------------------------------------------------------------------


def _lines(block: str) -> list[str]:
    """One phrase per non-empty line."""
    return [line.strip() for line in block.strip().splitlines() if line.strip()]


PLACES = ["楼下", "公司门口", "地铁站", "小区门口", "万达", "学校东门", "火车站", "星巴克"]
FOODS = ["火锅", "麻辣烫", "饺子", "烤鱼", "黄焖鸡", "螺蛳粉", "披萨", "拉面"]
TIMES = ["七点", "八点半", "十点", "中午", "下午三点", "晚上九点", "明天早上"]
NAMES = ["小王", "老李", "阿杰", "婷婷", "张姐", "小陈", "刘老师", "阿明"]

CHAT_BENIGN_ZH = _lines("""
今晚吃{food}吗？
我到{place}了，你在哪
{time}开会，别忘了
好的收到
哈哈哈笑死我了
周末一起去爬山吗
帮我带杯奶茶，少糖去冰
快递到了吗？
妈，我这周末回家吃饭
孩子发烧了，我请半天假
会议改到{time}了
这个PPT你再帮我看一下
地铁好挤啊
下雨了记得带伞
{name}生日快乐！🎂
明天{time}在{place}见
刚下班，累死了
这家{food}真不错，下次带你来
收到，我马上处理
你看昨晚的球赛了吗
房租这个月几号交？
我的微信号换了，加我新的吧
群里的文件谁下载一下
在吗？
车堵在高架上了，晚点到
猫又把杯子打碎了😂
老师布置的作业是第三章
体检报告出来了，一切正常
这周末加班，去不了了
电影票买好了，七排中间
我妈让你周末来家里吃饭
晚安
谢谢老板的红包🧧
今天股市又跌了
高铁票抢到了！
{name}，你的快递放门卫了
空调坏了，找了上门维修师傅
楼下快餐店300米外就有一家，还不错
冷得我瑟瑟发抖
周末一起打麻将吗，三缺一
德州扑克的规则是什么？
他月入三万还说不够花
我一小时能跑10公里
垃圾分类真麻烦
我家小狗走丢了，大家帮忙转发
房贷利率又降了
这篇小红书笔记写得真好
天涯海角也要去看你
抖音上那个视频笑死我了
原味酸奶和草莓味哪个好喝？
新政策出台了，大家看一下通知
你帮我把垃圾倒一下
上门取件10元，挺方便的
刚抢到一个红包，才两毛
单位通知下周体检
谁有充电宝借我用一下
""")
CHAT_BENIGN_EN = _lines("""
running 10 min late, sorry!
see you at the station
happy birthday!! 🎉
can you send me the report before noon?
lol that's hilarious
what time is dinner?
ok, on my way
did you feed the cat?
meeting moved to 3pm
thanks, got it
call me when you land
the train is delayed again
free this weekend? hiking?
I won the pub quiz last night, £20 prize haha
text me when you're home
my new phone has a great camera
good morning ☀️
who's bringing the snacks?
""")

MICROBLOG_BENIGN_ZH = _lines("""
今天的晚霞太美了 #晚霞#
周末去{place}附近新开的书店逛了逛，推荐！
自己做的{food}，第一次就成功了
打卡第30天，坚持跑步 #跑步#
这部剧的结局我不能接受！！
分享一首最近单曲循环的歌
终于考完试了，放假啦
{name}推荐的这家{food}真的绝了
台风要来了，大家注意安全
新手机到了，拍照效果不错
今天的地铁上看到一只超乖的导盲犬
为中国队加油！#奥运#
第一次尝试手冲咖啡，翻车了哈哈
读完了一本好书，强烈推荐
早起的鸟儿有虫吃
这波降温也太突然了，冷得瑟瑟发抖
德州扑克入门规则整理，欢迎补充
垃圾分类小知识，转需
警方提醒：公检法不会要求转账到安全账户，谨防诈骗
扫黄打非办公布了一批典型案件，网络不是法外之地
快餐店300米外新开了一家面馆
求推荐上门维修空调的师傅
天涯海角，我们一起去看海
""")
MICROBLOG_BENIGN_EN = _lines("""
Sunset at the beach tonight 🌅
Finished my first half marathon!
New recipe: mapo tofu, turned out great
Reading list for August, suggestions welcome
The new museum wing is open to the public from today
Coffee and code, the usual
""")

# Captions of the image-flood account (the Dongguan case).
FLOOD_CAPTIONS = _lines("""
福利来了，大尺度套图，懂的来
今日福利 无圣光套图 #福利#
私房照更新，看图点赞
美女写真合集，原图私信
""")

TOPICS = ["#日常#", "#美食#", "#旅行#", "#读书#", "#运动#", "#摄影#", "#宠物#", "#音乐#"]


# --- violations, from the seed report's cases -------------------------------------------------


def solicitation(f: Faker) -> str:
    area = f.pick(["东莞", "佛山", "哈尔滨", "同城", "广州天河", "北京朝阳"])
    p1, p2 = f.rng.choice([300, 400, 500, 600]), f.rng.choice([800, 1000, 1200, 1500])
    return f.rng.choice([
        f"{area}美女上门，快餐{p1}，包夜{p2}，{f.wechat()}",
        f"学生妹可外出，{p1}一次，{f.contact()}",
        f"同城约-炮，真人照片，{f.qq_obfuscated()}",
        f"約炮嗎？{area}可約，{f.wechat()}",
        f"{area}楼凤上门服务，快餐{p1}，联系 {f.phone_obfuscated()}",
        f"夜场招聘小妹，日结高薪，包吃住，形象气质佳，{f.wechat()}",
        f"今晚有空的妹子群里报名，{area}酒店，{p1}一次，老规矩加{zero_width('微信')}",
        f"莞式全套，{p2}包夜，{f.contact()}",
    ])  # fmt: skip


def porn(f: Faker) -> str:
    return f.rng.choice([
        f"出原味袜子，私我 {f.wechat()}",
        f"自录视频15元200个，要的加 {f.qq_obfuscated()}",
        f"海角社区网址更新了，懂得来 {f.domain()}",
        "有没有聊色的姐姐，能文爱吗",
        f"收一只听话的小母狗，{f.wechat()}",
        f"无码资源打包出售，{f.contact()}",
        "可以涩涩吗/害羞",
        f"{zero_width('文爱')}的加我",
    ])  # fmt: skip


def illicit_ads(f: Faker) -> str:
    return f.rng.choice([
        f"抖音代发一单五米，长期合作，{f.wechat()}",
        f"dy代發 一箪70，纯绿色不封号，{f.qq_obfuscated()}",
        "小红书发文做吗？五米一条，做的来",
        f"需要涨粉丝或者点赞吗？真人粉，价优，{f.contact()}",
        f"短信群发，代发短信，三网通，{f.qq_obfuscated()}",
        "新店需要刷子，一单一结，有的加我",
        "抄小说复制粘贴就行，一天三位数，来不来",
        f"代开发票，各行业都可以，{f.phone_obfuscated()}",
    ])  # fmt: skip


def gambling(f: Faker) -> str:
    return f.rng.choice([
        "金花牛牛三公，一毛一分，玩的加我",
        f"新人首存100送100，浏览器搜索 {f.domain()}",
        f"{circled(f.domain().split('.')[0])}.𝕥𝕠𝕡 新人必红，大放水",
        "金🌸牛🐮跑🉐快，皆🉑拉",
        f"问鼎大舞台，注册送88，{f.wechat()}",
        f"德州 1/2 5/10 25/50 自建房，{f.wechat()}",
        "新澳内幕，期期准，需要的私我",
    ])  # fmt: skip


def fraud(f: Faker) -> str:
    return f.rng.choice([
        "带人做项目，不需要投资，一小时700，两部手机就行，做的佳我",
        f"日结两千起，急需用钱的联系 {f.wechat()}",
        "无前期，不看征信，黑户白户都能下款，私聊",
        f"收一类卡，当天1-6w，需要的私 {f.qq_obfuscated()}",
        "宝妈在家做副业，月入三万，零投资，加我",
        "您的账户涉嫌洗钱已被冻结，请将资金转入安全账户",
        "URGENT! You have WON a guaranteed £1000 cash prize. Call 09061743806 to claim",
        "一小时③⓪⓪，有手机就行，私我",
    ])  # fmt: skip


def extortion(f: Faker) -> str:
    amount = f.pick(["两万", "五万", "3万", "八千"])
    return f.rng.choice([
        f"你嫖娼的视频在我手上，不给{amount}就发给你老婆",
        f"你的裸照我都存了，今晚之前转{amount}，否则群发你通讯录",
        "聊天记录截图我都有，限你三小时内打钱，不然发到你们单位群",
        f"你手机通讯录我已经导出了，视频不想被发出去就转账{amount}",
        "I recorded you through your webcam. Pay $2000 in bitcoin or I send the video to all "
        "your contacts",
        f"你的祼照我有，不給錢就曝光，{amount}私了",
    ])  # fmt: skip


def abuse(f: Faker) -> str:
    return f.rng.choice([
        "你个傻逼，会不会玩", "没浮木的东西，滚", "你怎么不去死", "傻 逼 队友", "你脑残吧",
        "你木琴呢，继续对线啊", "ＳＢ", "fuck you, don't text me again",
    ])  # fmt: skip


VIOLATIONS: dict[str, Callable[[Faker], str]] = {
    "solicitation": solicitation,
    "porn": porn,
    "illicit_ads": illicit_ads,
    "gambling": gambling,
    "fraud": fraud,
    "extortion": extortion,
    "abuse": abuse,
}


# --- events -----------------------------------------------------------------------------------


@dataclass
class Account:
    id: str
    name: str
    account_age_days: int
    followers: int
    verified: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "account_age_days": self.account_age_days,
            "followers": self.followers,
            "verified": self.verified,
        }


class Generator:
    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.fake = Faker(self.rng)
        self.clock = START
        handles = ["晴天", "小鹿", "Leo", "阿飞", "momo", "大白", "Kiki", "老张", "Sunny", "七七",
                   "Jack", "橙子", "豆豆", "Amy", "北北", "Tom"]  # fmt: skip
        self.accounts = [
            Account(
                f"u{1000 + i}",
                handles[i % len(handles)] + (str(i // len(handles)) if i >= len(handles) else ""),
                self.rng.randint(30, 3000),
                self.rng.randint(5, 5000),
                self.rng.random() < 0.08,
            )
            for i in range(60)
        ]
        # Offenders: fresh accounts with few followers (what the rules' exceptions assume).
        self.offenders = [
            Account(f"u9{i:03d}", f"user{self.rng.randint(10000, 99999)}",
                    self.rng.randint(0, 20), self.rng.randint(0, 30), False)
            for i in range(12)
        ]  # fmt: skip
        # The Dongguan-style image flooder: one young account, many image posts, huge reach.
        self.flooder = Account("u9900", "福利姬每日更", 45, 38000, False)
        self.groups = [
            (f"g{200 + i}", self.rng.sample(self.accounts, self.rng.randint(3, 12)))
            for i in range(8)
        ]
        self.ring_group = ("g666", self.offenders[:6])  # the WeChat ring's group

    # time moves forward a little with every event; a few use epoch milliseconds
    def ts(self) -> str | int:
        self.clock += timedelta(seconds=self.rng.randint(3, 240))
        if self.rng.random() < 0.15:
            return int(self.clock.timestamp() * 1000)
        return self.clock.isoformat()

    def fill(self, template: str) -> str:
        return template.format(
            food=self.fake.pick(FOODS), place=self.fake.pick(PLACES),
            time=self.fake.pick(TIMES), name=self.fake.pick(NAMES),
        )  # fmt: skip

    def image(self) -> dict[str, Any]:
        digest = self.fake.hexdigits(64)
        return {
            "type": "image",
            "url": f"https://img.example.com/{digest[:16]}.jpg",
            "sha256": hashlib.sha256(digest.encode()).hexdigest(),
            "pdq": self.fake.hexdigits(64),
        }

    def chat(self, n: int) -> tuple[list[Event], list[str]]:
        events: list[Event] = []
        labels: list[str] = []
        kinds = list(VIOLATIONS)
        for i in range(n):
            violation = self.rng.random() < 0.16
            if violation:
                label = kinds[i % len(kinds)] if self.rng.random() < 0.8 else self.fake.pick(kinds)
                text = VIOLATIONS[label](self.fake)
                if label in ("solicitation", "illicit_ads", "gambling") and self.rng.random() < 0.6:
                    conv_id, members = self.ring_group
                    user = self.rng.choice(members)
                    conv = {"id": conv_id, "type": "group", "members": [m.id for m in members]}
                else:
                    user = self.rng.choice(self.offenders)
                    victim = self.rng.choice(self.accounts)
                    conv = {"id": f"d-{user.id}-{victim.id}", "type": "direct",
                            "members": [user.id, victim.id]}  # fmt: skip
            else:
                label = "benign"
                pool = CHAT_BENIGN_EN if self.rng.random() < 0.2 else CHAT_BENIGN_ZH
                text = self.fill(self.fake.pick(pool))
                if self.rng.random() < 0.6:
                    conv_id, members = self.rng.choice(self.groups)
                    user = self.rng.choice(members)
                    conv = {"id": conv_id, "type": "group", "members": [m.id for m in members]}
                else:
                    user, other = self.rng.sample(self.accounts, 2)
                    conv = {"id": f"d-{user.id}-{other.id}", "type": "direct",
                            "members": [user.id, other.id]}  # fmt: skip
            media = [self.image()] if self.rng.random() < 0.08 else []
            events.append({
                "kind": "chat",
                "id": f"c-{i + 1:05d}",
                "ts": self.ts(),
                "user": user.as_json(),
                "text": text,
                "media": media,
                "platform": self.fake.pick(["wechat", "wechat", "wechat", "qq"]),
                "conversation": conv,
            })  # fmt: skip
            labels.append(label)
        return events, labels

    def microblog(self, n: int) -> tuple[list[Event], list[str]]:
        events: list[Event] = []
        labels: list[str] = []
        posted: list[str] = []
        for i in range(n):
            roll = self.rng.random()
            media: list[dict[str, Any]] = []
            repost_of = None
            topics = [self.fake.pick(TOPICS)] if self.rng.random() < 0.5 else []
            if roll < 0.06:  # the image flood
                label, user = "porn", self.flooder
                text = self.fake.pick(FLOOD_CAPTIONS)
                media = [self.image() for _ in range(9)]
                visits = self.rng.randint(200_000, 1_200_000)
                topics = ["#福利#"]
            elif roll < 0.14:
                label = self.fake.pick(["solicitation", "porn", "illicit_ads", "gambling",
                                        "fraud", "abuse"])  # fmt: skip
                user = self.rng.choice(self.offenders)
                text = VIOLATIONS[label](self.fake)
                visits = self.rng.randint(50, 20_000)
            else:
                label = "benign"
                user = self.rng.choice(self.accounts)
                pool = MICROBLOG_BENIGN_EN if self.rng.random() < 0.15 else MICROBLOG_BENIGN_ZH
                text = self.fill(self.fake.pick(pool))
                if self.rng.random() < 0.35:
                    media = [self.image() for _ in range(self.rng.choice([1, 1, 2, 3, 4, 9]))]
                visits = self.rng.randint(0, 50_000)
                if posted and self.rng.random() < 0.12:
                    repost_of = self.rng.choice(posted)
            event_id = f"m-{i + 1:05d}"
            posted.append(event_id)
            event: Event = {
                "kind": "microblog",
                "id": event_id,
                "ts": self.ts(),
                "user": user.as_json(),
                "text": text,
                "media": media,
                "platform": "weibo",
                "visits": visits,
                "topics": topics,
            }
            if repost_of:
                event["repost_of"] = repost_of
            events.append(event)
            labels.append(label)
        return events, labels


def write_jsonl(path: Path, events: list[Event]) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        for event in events:
            fh.write(json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n")


def check(events: list[Event], labels: list[str], name: str) -> None:
    """Screen the events with the default packs and compare with the intended labels."""
    from screener.engine import Engine
    from screener.events import parse_obj
    from screener.rules import load_packs
    from screener.shipped import default_packs

    engine = Engine(load_packs([default_packs()]))
    parsed = [parse_obj(e) for e in events]
    verdicts = engine.screen(parsed)  # type: ignore[arg-type]
    table: Counter[tuple[str, str]] = Counter()
    for label, verdict in zip(labels, verdicts, strict=True):
        table[(label, verdict.category or "-")] += 1
    print(f"{name}: {len(events)} events, intended label → verdict category")
    for (label, got), count in sorted(table.items()):
        mark = "" if (label == got) or (label == "benign" and got == "-") else "  ≠"
        print(f"  {label:>13} → {got:<13} {count:4d}{mark}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--out", type=Path, help="directory (default: seeds/events)")
    parser.add_argument("--chat", type=int, default=240, help="number of chat events")
    parser.add_argument("--microblog", type=int, default=200, help="number of microblog events")
    parser.add_argument("--check", action="store_true", help="screen them and print a summary")
    args = parser.parse_args(argv)
    if args.out is None:
        if not (SEEDS / "events").is_dir():
            where = SEEDS / "events"
            print(f"writing the shipped samples needs a source checkout ({where} is not there); "
                  "pass --out DIR to write them elsewhere", file=sys.stderr)  # fmt: skip
            return 2
        args.out = SEEDS / "events"
    gen = Generator(args.seed)
    chat, chat_labels = gen.chat(args.chat)
    blog, blog_labels = gen.microblog(args.microblog)
    args.out.mkdir(parents=True, exist_ok=True)
    write_jsonl(args.out / "chat.jsonl", chat)
    write_jsonl(args.out / "microblog.jsonl", blog)
    print(f"wrote {len(chat)} chat and {len(blog)} microblog events to {args.out}")
    if args.check:
        check(chat, chat_labels, "chat.jsonl")
        check(blog, blog_labels, "microblog.jsonl")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
