//! Which agents a principal may reach: the agent/tag restriction of the API token it
//! authenticated with (SPEC §4 "API tokens"). Sessions are never restricted.

/// The agents a principal may reach within its team. Unrestricted when both lists are
/// empty; otherwise an agent is reachable when its id is listed **or** it carries any listed
/// tag. The fleet applies it to every agent lookup, so an agent outside it answers exactly
/// like another team's agent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentScope {
    agents: Vec<String>,
    tags: Vec<String>,
}

impl AgentScope {
    /// No restriction (a session, or a token issued without agents or tags).
    pub fn unrestricted() -> Self {
        Self::default()
    }

    /// A restriction to agent ids `agents` and/or agent tags `tags` (both empty: none).
    pub fn new(agents: Vec<String>, tags: Vec<String>) -> Self {
        Self { agents, tags }
    }

    /// Whether any restriction applies.
    pub fn is_restricted(&self) -> bool {
        !(self.agents.is_empty() && self.tags.is_empty())
    }

    /// The agent ids it names.
    pub fn agents(&self) -> &[String] {
        &self.agents
    }

    /// The agent tags it names.
    pub fn tags(&self) -> &[String] {
        &self.tags
    }

    /// Whether agent `agent_id` carrying `agent_tags` is reachable. Tags compare ignoring
    /// ASCII case, because the fleet lowercases agent tags while a token keeps the case it
    /// was issued with: a token restricted to `Web` reaches agents tagged `web`.
    pub fn allows(&self, agent_id: &str, agent_tags: &[String]) -> bool {
        !self.is_restricted()
            || self.agents.iter().any(|a| a == agent_id)
            || self
                .tags
                .iter()
                .any(|t| agent_tags.iter().any(|at| at.eq_ignore_ascii_case(t)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_string()).collect()
    }

    #[test]
    fn an_unrestricted_scope_allows_every_agent() {
        let s = AgentScope::unrestricted();
        assert!(!s.is_restricted());
        assert!(s.allows("agt_a", &[]));
        assert!(s.allows("agt_b", &v(&["db"])));
    }

    #[test]
    fn an_agent_is_allowed_by_its_id_or_any_listed_tag() {
        let s = AgentScope::new(v(&["agt_a"]), v(&["web", "edge"]));
        assert!(s.is_restricted());
        assert!(s.allows("agt_a", &[]), "listed id, no tags");
        assert!(s.allows("agt_b", &v(&["db", "edge"])), "one listed tag");
        assert!(!s.allows("agt_b", &v(&["db"])), "neither");
        assert!(!s.allows("agt_b", &[]));
    }

    #[test]
    fn ids_match_exactly_and_tags_ignore_ascii_case() {
        let by_id = AgentScope::new(v(&["agt_a"]), vec![]);
        assert!(!by_id.allows("agt_ab", &[]));
        assert!(!by_id.allows("AGT_A", &[]));
        assert!(!by_id.allows("agt_b", &v(&["agt_a"])), "an id is not a tag");
        let by_tag = AgentScope::new(vec![], v(&["Web"]));
        assert!(by_tag.allows("agt_b", &v(&["web"])));
        assert!(!by_tag.allows("agt_b", &v(&["webserver"])));
    }
}
