# Image of the project for docker compose: Node 20 with the dependencies installed.
FROM node:20-bookworm-slim
WORKDIR /app
# A fixed malloc mmap threshold: ~100 MiB less at the peak of a snapshot switch (docs/ARCHITECTURE.md, "Memory budget").
ENV MALLOC_MMAP_THRESHOLD_=131072
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npx tsc -p tsconfig.build.json
CMD ["npx", "jest", "--ci", "--runInBand"]
