"""CMMLU's 67 subjects: the Chinese name each prompt uses and the category each is reported under.

Facts from the CMMLU repository (haonan-li/CMMLU, src/categories.py): `name_en2zh` gives the
Chinese names; `subcategories` and `categories` put each subject under STEM, Humanities,
Social Science, Other or China specific. A subject CMMLU lists under two (e.g. traditional
Chinese medicine: other and china specific) is reported here under its first.
"""

from __future__ import annotations

# subject -> (Chinese name, category of its first subcategory)
SUBJECTS: dict[str, tuple[str, str]] = {
    "agronomy": ("农学", "Other"),
    "anatomy": ("解剖学", "STEM"),
    "ancient_chinese": ("古汉语", "Social Science"),
    "arts": ("艺术学", "Humanities"),
    "astronomy": ("天文学", "STEM"),
    "business_ethics": ("商业伦理", "Social Science"),
    "chinese_civil_service_exam": ("中国公务员考试", "Social Science"),
    "chinese_driving_rule": ("中国驾驶规则", "Other"),
    "chinese_food_culture": ("中国饮食文化", "Social Science"),
    "chinese_foreign_policy": ("中国外交政策", "Social Science"),
    "chinese_history": ("中国历史", "Humanities"),
    "chinese_literature": ("中国文学", "Humanities"),
    "chinese_teacher_qualification": ("中国教师资格", "Social Science"),
    "clinical_knowledge": ("临床知识", "Other"),
    "college_actuarial_science": ("大学精算学", "STEM"),
    "college_education": ("大学教育学", "Social Science"),
    "college_engineering_hydrology": ("大学工程水文学", "STEM"),
    "college_law": ("大学法律", "Humanities"),
    "college_mathematics": ("大学数学", "STEM"),
    "college_medical_statistics": ("大学医学统计", "STEM"),
    "college_medicine": ("大学医学", "Other"),
    "computer_science": ("计算机科学", "STEM"),
    "computer_security": ("计算机安全", "Other"),
    "conceptual_physics": ("概念物理学", "STEM"),
    "construction_project_management": ("建设工程管理", "Other"),
    "economics": ("经济学", "Social Science"),
    "education": ("教育学", "Social Science"),
    "electrical_engineering": ("电气工程", "STEM"),
    "elementary_chinese": ("小学语文", "Social Science"),
    "elementary_commonsense": ("小学常识", "Other"),
    "elementary_information_and_technology": ("小学信息技术", "Other"),
    "elementary_mathematics": ("初等数学", "STEM"),
    "ethnology": ("民族学", "Social Science"),
    "food_science": ("食品科学", "Other"),
    "genetics": ("遗传学", "STEM"),
    "global_facts": ("全球事实", "Humanities"),
    "high_school_biology": ("高中生物", "STEM"),
    "high_school_chemistry": ("高中化学", "STEM"),
    "high_school_geography": ("高中地理", "Social Science"),
    "high_school_mathematics": ("高中数学", "STEM"),
    "high_school_physics": ("高中物理学", "STEM"),
    "high_school_politics": ("高中政治", "Social Science"),
    "human_sexuality": ("人类性行为", "Other"),
    "international_law": ("国际法学", "Humanities"),
    "journalism": ("新闻学", "Social Science"),
    "jurisprudence": ("法理学", "Humanities"),
    "legal_and_moral_basis": ("法律与道德基础", "Other"),
    "logical": ("逻辑学", "Humanities"),
    "machine_learning": ("机器学习", "STEM"),
    "management": ("管理学", "Social Science"),
    "marketing": ("市场营销", "Social Science"),
    "marxist_theory": ("马克思主义理论", "Humanities"),
    "modern_chinese": ("现代汉语", "Social Science"),
    "nutrition": ("营养学", "Other"),
    "philosophy": ("哲学", "Humanities"),
    "professional_accounting": ("专业会计", "Social Science"),
    "professional_law": ("专业法学", "Humanities"),
    "professional_medicine": ("专业医学", "Other"),
    "professional_psychology": ("专业心理学", "Social Science"),
    "public_relations": ("公共关系", "Social Science"),
    "security_study": ("安全研究", "Social Science"),
    "sociology": ("社会学", "Social Science"),
    "sports_science": ("体育学", "Other"),
    "traditional_chinese_medicine": ("中医中药", "Other"),
    "virology": ("病毒学", "STEM"),
    "world_history": ("世界历史", "Humanities"),
    "world_religions": ("世界宗教", "Humanities"),
}

# Apollo's CMMLU-Medical (FreedomIntelligence/Apollo README and test set): 1,333 test items.
MEDICAL: tuple[str, ...] = ("anatomy", "clinical_knowledge", "college_medicine", "genetics", "nutrition",
                            "traditional_chinese_medicine", "virology")
# Medical by name but outside Apollo's set, so in neither group: scoring them as "general" would
# let medical fine-tuning pass for retention.
MEDICAL_OUTSIDE_APOLLO: tuple[str, ...] = ("professional_medicine", "college_medical_statistics")
# Retention: every other subject (58 of 67; about 9,800 test items in the release).
GENERAL: tuple[str, ...] = tuple(s for s in SUBJECTS if s not in MEDICAL + MEDICAL_OUTSIDE_APOLLO)
