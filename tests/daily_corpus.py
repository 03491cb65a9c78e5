"""A real-looking mixed corpus for the browser screenshots: English docs (Markdown, rST, HTML,
text, a licence) and Chinese articles (some as web pages with navigation boilerplate).

`write_daily_corpus(root)` writes it; nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path

_NAV_ZH = "首页 | 新闻 | 财经 | 科技 | 体育 | 娱乐 | 关于我们 | 联系我们 | 网站地图 | 登录 | 注册"
_HOT_ZH = "天气预报、股市行情、高考、房价、世界杯"
_FOOT_ZH = "版权所有 © 2024 城市日报社 京ICP备12345678号 违法和不良信息举报电话：010-12345678"


def _zh_page(title: str, body: list[str]) -> str:
    paragraphs = "\n".join(f"<p>{p}</p>" for p in body)
    return (
        f"<!DOCTYPE html><html lang='zh'><head><meta charset='utf-8'><title>{title}</title></head><body>"
        f"<header><nav>{_NAV_ZH}</nav><p>热门：{_HOT_ZH}</p></header>"
        f"<main><h1>{title}</h1>{paragraphs}</main><footer>{_FOOT_ZH}</footer></body></html>"
    )


DAILY_CORPUS: dict[str, str] = {
    "guide/installing.md": """---
title: Installing packages
tags: [pip, packaging]
---

# Installing packages

Use `pip install` to fetch a package from the [Python Package Index](https://pypi.org/).
A **virtual environment** keeps each project's packages apart: create one with
`python -m venv .venv` and activate it before installing.

## Pinning versions

Write the exact versions you tested with into `requirements.txt` (`requests==2.32.3`), or use a
constraints file, so that a fresh install next month gets the same packages as today.
""",
    "guide/virtualenvs.rst": """:orphan:

.. _venv-guide:

Virtual environments
====================

A virtual environment is a directory with its own Python interpreter and its own
``site-packages``. See :ref:`installing <installing>` for how packages get there.

Creating one
------------

Run ``python -m venv .venv``; activate it with ``source .venv/bin/activate`` on Linux and macOS.
Deleting the directory removes every package installed into it.
""",
    "guide/upgrading.md": """# Upgrading Python

Before moving a project to a new Python release, run its test suite on the new version in a
fresh virtual environment. Compiled extensions need wheels built for that release; if pip starts
compiling from source, the package has no wheel for your Python yet.
""",
    "guide/troubleshooting.html": """<!DOCTYPE html><html><head><title>Troubleshooting installs</title>
<script>window.analytics = [];</script></head><body>
<nav><a href="/">Docs home</a> · <a href="/guide/">Guide</a> · <a href="/faq/">FAQ</a></nav>
<h1>Troubleshooting installs</h1>
<p>If <code>pip install</code> fails with <em>Permission denied</em>, you are installing into the
system Python: use a <a href="virtualenvs.html">virtual environment</a> instead of
<code>sudo</code>.</p>
<p>An <strong>SSL error</strong> usually means a proxy intercepts the connection; ask your
administrator for the proxy's certificate and pass it with <code>--cert</code>.</p>
</body></html>""",
    "notes/sourdough.txt": """Sourdough starter notes

Feed the starter twice a day with equal weights of flour and water. It is ready when it doubles
within six hours and smells pleasantly sour. A cold fridge slows it down: feed it once a week.
""",
    "notes/tomatoes.md": """# Growing tomatoes on a balcony

Tomatoes want six to eight hours of sun. Water deeply in the morning, not a little every evening,
and pinch out the side shoots of cordon varieties so the plant puts its energy into fruit.
""",
    "notes/cycling.txt": """Commuting by bike in winter

Lights front and back are the law after dark. Studded tyres make icy mornings safe, mudguards
keep you dry, and a chain cleaned every week lasts through the salt on the roads.
""",
    "notes/coffee.md": """# Brewing pour-over coffee

Grind 15 g of beans medium-fine for 250 g of water just off the boil. Bloom the grounds with a
little water for 30 seconds, then pour slowly in circles; the whole brew should take three minutes.
""",
    "notes/cats.txt": """Why cats bring mice home

A cat that drops a mouse at the door is sharing its hunt. Domestic cats keep the instincts of
wild hunters: they stalk at dusk, pounce, and bring prey to the place they feel safe.
""",
    "notes/budget.md": """# A household budget that works

Write down every expense for one month before making a plan. Then set aside savings first,
on payday, and give every remaining euro a job: rent, food, transport, and a little fun.
""",
    "news/rates.html": """<html><head><title>Central bank raises interest rates again</title></head><body>
<nav>Home | World | Business | Markets | Sport</nav>
<h1>Central bank raises interest rates again</h1>
<p>The central bank raised its key <a href="/glossary/rate">interest rate</a> by a quarter point
on Thursday, the third rise this year, citing inflation that remains above its 2% target.</p>
<p>Mortgage holders on variable rates will see higher payments from next month.</p>
</body></html>""",
    "news/heatwave.txt": """Heatwave warning for the weekend

Temperatures are expected to reach 38 degrees on Saturday. Drink water regularly, keep curtains
closed during the day, and check on elderly neighbours who live alone.
""",
    "news/election.md": """# Turnout rises in local elections

Turnout in the local elections rose to 54 percent, the highest in two decades. Young voters
registered in record numbers after a campaign on housing costs and public transport.
""",
    "news/telescope.txt": """New telescope photographs a distant galaxy

The space telescope returned its first images of a galaxy thirteen billion light years away,
full of young stars forming from clouds of gas shortly after the Big Bang.
""",
    "howto/backup.md": """# Backing up your laptop

Follow the 3-2-1 rule: three copies of your files, on two kinds of storage, one of them away
from home. An external disk for nightly copies and an encrypted cloud backup cover most people.
""",
    "howto/passwords.rst": """Choosing passwords
==================

Use a password manager and let it generate a long random password for every site. Turn on
two-factor authentication for e-mail first: whoever controls your e-mail can reset the rest.
""",
    "howto/git-branches.md": """# Working with git branches

Create a branch for each change with `git switch -c fix-typo`, commit there, and open a pull
request. Rebase on the main branch before merging so the history stays easy to read.
""",
    "howto/ssh-keys.txt": """Setting up SSH keys

Generate a key pair with ssh-keygen -t ed25519, protect it with a passphrase, and copy the public
half to the server with ssh-copy-id. Never share the private key file.
""",
    "LICENSE": """MIT License

Permission is hereby granted, free of charge, to any person obtaining a copy of this software and
associated documentation files, to deal in the Software without restriction.
""",
    "README": """Team handbook

This folder holds our notes, guides and news clippings. Add a Markdown file per topic; the search
page indexes it within minutes.
""",
    "zh/news/rates.html": _zh_page(
        "央行宣布上调基准利率",
        [
            "中国人民银行周四宣布，将一年期贷款市场报价利率上调0.25个百分点，这是今年第三次加息。",
            "分析人士认为，利率上升将抑制房地产市场的过热，但也会增加企业的融资成本。",
            "央行表示，将继续关注通货膨胀的走势，保持货币政策的稳定性。",
        ],
    ),
    "zh/news/weather.html": _zh_page(
        "本周末北京将迎来强降雨",
        [
            "气象台发布暴雨蓝色预警，预计周六夜间到周日白天北京大部分地区有大到暴雨。",
            "市民出行请注意安全，尽量避开低洼路段，驾车时减速慢行。",
        ],
    ),
    "zh/news/subway.html": _zh_page(
        "地铁新线路年底开通",
        [
            "市交通委透露，地铁十九号线将于年底开通运营，全长二十二公里，设车站十座。",
            "新线路开通后，从城南到市中心的通勤时间将缩短约二十分钟。",
        ],
    ),
    "zh/news/housing.html": _zh_page(
        "房价连续三个月回落",
        [
            "国家统计局数据显示，七十个大中城市新建商品住宅价格连续三个月环比下降。",
            "业内人士表示，房贷利率的变化是影响购房需求的重要因素。",
        ],
    ),
    "zh/life/tea.md": """# 如何泡一杯好绿茶

泡绿茶的水温以八十度左右为宜，水太烫会把茶叶烫熟，失去清香。先倒入少量热水润茶，
再沿杯壁缓缓注水，茶叶舒展开来就可以品尝了。
""",
    "zh/life/cat.txt": """猫为什么喜欢抓老鼠

猫是天生的猎手。即使家猫不缺食物，它们依然保留着捕猎的本能，常在黄昏时分潜伏、扑击，
然后把猎物叼回自己觉得安全的地方。
""",
    "zh/life/dumplings.md": """# 包饺子的小窍门

和面时加一点盐，面皮更有韧性。饺子馅要顺着一个方向搅拌，煮饺子时水开后点三次凉水，
饺子皮就不容易破。
""",
    "zh/life/running.txt": """跑步入门指南

刚开始跑步的人不要追求速度，每周跑三次、每次三十分钟就足够了。跑前热身，跑后拉伸，
选一双合脚的跑鞋可以减少膝盖受伤的风险。
""",
    "zh/tech/python.md": """# 用虚拟环境管理 Python 依赖

每个项目都应该有自己的虚拟环境：运行 python -m venv .venv 创建，激活后再用 pip 安装依赖。
把测试过的版本写进 requirements.txt，换一台机器也能装出相同的环境。
""",
    "zh/tech/backup.txt": """电脑数据备份的三二一原则

重要文件至少保存三份，使用两种不同的存储介质，其中一份放在异地。
移动硬盘做每日备份，加密的云盘做异地备份，可以应对大多数意外。
""",
    "zh/tech/password.md": """# 设置安全的密码

使用密码管理器为每个网站生成不同的长密码，并为电子邮箱开启两步验证。
邮箱一旦被盗，其他账号的密码都可能被重置。
""",
}


def write_daily_corpus(root: Path) -> Path:
    for name, text in DAILY_CORPUS.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root
