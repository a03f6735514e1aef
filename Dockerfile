# syntax=docker/dockerfile:1
# Node 26 is the Active LTS line.
ARG NODE_VERSION=26

FROM node:${NODE_VERSION}-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-fund --no-audit
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM node:${NODE_VERSION}-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-fund --no-audit && npm cache clean --force
COPY --from=build /src/dist ./dist
# The embedded local upstream (used when no upstream is configured) keeps its data here.
RUN mkdir -p /app/falcon-data && chown node:node /app/falcon-data
VOLUME ["/app/falcon-data"]
USER node
EXPOSE 8080
# A small young generation: network chunks copied into cache blocks are collected every few MiB, which keeps
# the process close to --max-cache-size under heavy large-object traffic.
ENTRYPOINT ["node", "--max-semi-space-size=2", "dist/cli.js"]
CMD ["--host", "0.0.0.0"]
