"""The privacy terms a resident accepts; a new version needs a new acceptance."""

from __future__ import annotations

CURRENT_TERMS = {
    "version": "2026-11-01",
    "title": "信易游个人信息处理规则",
    "scopes": [
        "identity:verify",  # 实名核验: name and ID number, to find public credit records
        "credit:score",  # 信用评分: compute and show the score from public records and volunteer hours
        "pass:present",  # 信用码: merchants scanning the pass see the tier only
        "access_log",  # 查询记录: every read of your data is logged and visible to you
    ],
    "summary": (
        "我们仅在您同意后，依据公共信用记录与志愿服务时长计算信用分；商户扫码只能看到信用等级，"
        "看不到姓名、证件号、手机号或分数；合作平台须经您单独授权；您可随时撤回同意、导出或删除数据。"
    ),
}
